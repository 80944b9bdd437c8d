"""User-facing errors: anything raised as CmtlError is bad input, reported without a traceback (exit 2)."""
from __future__ import annotations

from collections.abc import Callable


class CmtlError(Exception):
    """Base for errors caused by the user's input or configuration, not by a bug."""


class ConfigError(CmtlError):
    """The run configuration is missing or invalid."""


class DataError(CmtlError):
    """Input data breaks a contract; the message names table, column, rule and row count."""


def all_of(checks: list[Callable[[], object]], prefix: str = "") -> None:
    """Run every check; one DataError listing each that failed, so a data engineer fixes them all in one
    go, not one per rerun. A single failure keeps its own message; with several, `prefix` (e.g.
    "table 'x': ") heads the list and is cut from each line."""
    problems = []
    for check in checks:
        try:
            check()
        except DataError as exc:
            problems.append(str(exc))
    if len(problems) == 1:
        raise DataError(problems[0])
    if problems:
        lines = [p[len(prefix):] if prefix and p.startswith(prefix) else p for p in problems]
        raise DataError(f"{prefix}{len(problems)} problems:\n" + "\n".join(
            "  - " + line.replace("\n", "\n    ") for line in lines))


class UnavailableError(CmtlError):
    """Something the run needs outside its input is not there: the tracking store, disk space, the
    workspace. Not a bug and not worth a retry within the run; the message says what and where."""
