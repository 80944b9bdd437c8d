"""User-facing errors: anything raised as CmtlError is bad input, reported without a traceback (exit 2)."""


class CmtlError(Exception):
    """Base for errors caused by the user's input or configuration, not by a bug."""


class ConfigError(CmtlError):
    """The run configuration is missing or invalid."""


class DataError(CmtlError):
    """Input data breaks a contract; the message names table, column, rule and row count."""


class UnavailableError(CmtlError):
    """Something the run needs outside its input is not there: the tracking store, disk space, the
    workspace. Not a bug and not worth a retry within the run; the message says what and where."""
