"""How tasks fail. Calls to the tracking server are retried with backoff (it may be briefly away); bad
input or config is never retried (the same input fails the same way). Every task has a time limit, so a
hung call fails the run and frees the worker instead of holding it forever.

Limits for data and fitting tasks scale with the cohort; raise them for very large runs with
CMTL_DATA_TIMEOUT_HOURS and CMTL_FIT_TIMEOUT_HOURS (read when flows are imported).
"""
from __future__ import annotations

import errno
import os

from mtl_core.errors import CmtlError

# The same input fails the same way again: a retry only repeats the error (and its traceback).
DETERMINISTIC = (CmtlError, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError,
                 NotImplementedError, AssertionError, ImportError, RecursionError)


def transient(task, task_run, state) -> bool:
    """Retry condition: True for failures that may pass (network, server, timeout), False for bad input
    or config (CmtlError), a programming error, or a full disk (it stays full for the next attempt)."""
    try:
        state.result()
    except DETERMINISTIC:
        return False
    except OSError as exc:
        return exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    except Exception:  # noqa: BLE001 - anything else may be transient (MlflowException, server errors)
        return True
    return False


def _seconds(variable: str, default_hours: float) -> float:
    return float(os.environ.get(variable, default_hours)) * 3600


# MLflow runs, metrics, artifacts, registry: 3 retries after 2, 10 and 30 s; 10 min per attempt
TRACKING = {"retries": 3, "retry_delay_seconds": [2, 10, 30], "retry_condition_fn": transient,
            "timeout_seconds": 600}
# read, validate, featurise, write the lake: a failure is the input's, so no retry
DATA = {"timeout_seconds": _seconds("CMTL_DATA_TIMEOUT_HOURS", 4)}
# fit, score: one retry for a crash that is not the input's (training resumes from its last checkpoint)
FIT = {"retries": 1, "retry_condition_fn": transient, "timeout_seconds": _seconds("CMTL_FIT_TIMEOUT_HOURS", 12)}
