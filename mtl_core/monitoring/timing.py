"""When each admission falls (its window) and when each of its outcomes becomes known (delay-aware masking).

An outcome is known only once its definition's horizon has passed by the snapshot's extract time: a
30-day readmission is unknown for 30 days after discharge. Until then its label is NaN, never 0,
because "no readmission in the data yet" is not "did not happen".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mtl_core.errors import DataError

PERIODS = {"month": "M", "quarter": "Q"}


def _days(d: float) -> pd.Timedelta:
    return pd.Timedelta(days=float(d))


# rule name (data_contracts/outcomes*.yaml) -> when the label is settled, from the admission's times
HORIZONS = {
    "died_in_hospital": lambda t, d: t["dischtime"],
    "length_of_stay_over": lambda t, d: t["dischtime"],
    "readmission_within": lambda t, d: t["dischtime"] + _days(d["days"]),
    "lab_rise_after_index": lambda t, d: np.minimum(t["dischtime"], t["index_time"] + pd.Timedelta(hours=d["hours"])),
    "diagnosis_in_admission": lambda t, d: t["dischtime"],
    "diagnosis_code_in_admission": lambda t, d: t["dischtime"],
    "diagnosis_within_after_discharge": lambda t, d: t["dischtime"] + _days(d["days"]),
}


def known_at(times: pd.DataFrame, definition: dict, lag_days: float = 0.0) -> pd.Series:
    """When one outcome's label is settled for each row of times (admittime, dischtime, index_time).
    A rule without a known horizon is taken as settled at discharge."""
    horizon = HORIZONS.get(definition.get("rule", ""), HORIZONS["died_in_hospital"])
    return pd.Series(horizon(times, definition), index=times.index) + _days(lag_days)


def parse_time(given: str, what: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(given)
    except ValueError:
        raise DataError(f"{what}: '{given}' is not a date-time (e.g. 2022-06-30)") from None


def extract_time(admissions: pd.DataFrame, given: str | None = None) -> pd.Timestamp:
    """The snapshot's extract time: the given one, else its latest admission or discharge."""
    if given:
        return parse_time(given, "monitoring.as_of / --as-of")
    latest = pd.concat([admissions["admittime"], admissions["dischtime"]]).max()
    if pd.isna(latest):
        raise DataError("table 'admissions' has no admission or discharge time: nothing to monitor")
    return pd.Timestamp(latest)


def mask_unknown(labels: pd.DataFrame, times: pd.DataFrame, definitions: dict, as_of: pd.Timestamp,
                 lags: dict[str, float]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Labels with every outcome not yet known at as_of set to NaN, and outcome -> mask of those rows."""
    out, masked = labels.copy(), {}
    for o in labels.columns:
        open_ = (known_at(times, definitions.get(o, {}), lags.get(o, 0.0)) > as_of).to_numpy()
        masked[o] = open_ & labels[o].notna().to_numpy()
        out.loc[open_, o] = np.nan
    return out, masked


def windows(index_time: pd.Series, kind: str) -> pd.DataFrame:
    """Per row: its window's label (2022-03, 2022Q1) and end (its last day)."""
    period = pd.Series(pd.DatetimeIndex(index_time).to_period(PERIODS[kind]), index=index_time.index)
    return pd.DataFrame({"window": period.astype(str), "end": period.dt.end_time.dt.floor("D")},
                        index=index_time.index)
