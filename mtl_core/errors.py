"""User-facing errors: anything raised as CmtlError is bad input, reported without a traceback (exit 2)."""


class CmtlError(Exception):
    """Base for errors caused by the user's input or configuration, not by a bug."""


class ConfigError(CmtlError):
    """The run configuration is missing or invalid."""


class DataError(CmtlError):
    """Input data breaks a contract; the message names table, column, rule and row count."""
