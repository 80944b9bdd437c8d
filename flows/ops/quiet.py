"""A user error reaches the terminal once: the CLI's own `error:` line, not Prefect's copies of it.

Prefect logs a failed task or flow run several times (the exception, the failed state of each task and
each enclosing flow); for bad input (a CmtlError) those lines repeat what `cmtl` prints last. The console
drops them; other handlers (the Prefect API, so the UI still shows why a run failed) keep them, without
the traceback. Imports nothing from prefect: the CLI installs the filters once Prefect set up logging.
"""
from __future__ import annotations

import logging
import re

from mtl_core.errors import CmtlError


def _names(cls: type = CmtlError) -> set[str]:
    return {cls.__name__}.union(*(_names(sub) for sub in cls.__subclasses__()))


def _mentions_user_error(record: logging.LogRecord) -> bool:
    if record.exc_info and isinstance(record.exc_info[1], CmtlError):
        return True
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is not ours to judge
        return False
    # "Finished in state Failed('Task run encountered an exception DataError: ...')" and the like
    names = "|".join(sorted(_names()))
    return bool(re.search(rf"\b({names})\b[(:]", message))


class NoUserErrorTraceback(logging.Filter):
    """Keeps the record, drops the traceback of a CmtlError (for the Prefect API's log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], CmtlError):
            record.exc_info, record.exc_text = None, None
        return True


class NoUserErrorOnConsole(logging.Filter):
    """Drops every log line about a CmtlError: the CLI prints the message itself, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _mentions_user_error(record)


def install() -> None:
    """Filters on every handler Prefect's logging set-up created (call after ensure_logging_setup)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            console = type(handler) is logging.StreamHandler or "Console" in type(handler).__name__
            if not any(isinstance(f, (NoUserErrorTraceback, NoUserErrorOnConsole)) for f in handler.filters):
                handler.addFilter(NoUserErrorOnConsole() if console else NoUserErrorTraceback())
