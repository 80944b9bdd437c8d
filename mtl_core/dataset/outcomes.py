"""Outcome labels from the canonical tables, one small rule function each, chosen by name in outcomes.yaml.

Every rule returns a float Series aligned to the cohort: 1.0, 0.0, or NaN where the outcome is
undefined for that admission (NaN labels are masked out of training and evaluation).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mtl_core.errors import ConfigError

Rule = Callable[..., pd.Series]
RULES: dict[str, Rule] = {}


def rule(fn: Rule) -> Rule:
    RULES[fn.__name__] = fn
    return fn


def _died(cohort: pd.DataFrame) -> pd.Series:
    return cohort["deathtime"].notna()


@rule
def died_in_hospital(cohort: pd.DataFrame, tables: dict) -> pd.Series:
    return _died(cohort).astype(float)


@rule
def length_of_stay_over(cohort: pd.DataFrame, tables: dict, days: float) -> pd.Series:
    los = (cohort["dischtime"] - cohort["admittime"]) / pd.Timedelta(days=1)
    return (los > days).astype(float)


@rule
def readmission_within(cohort: pd.DataFrame, tables: dict, days: float) -> pd.Series:
    """Any later admission of the same patient within `days` of discharge; NaN after death in hospital."""
    adm = tables["admissions"][["subject_id", "hadm_id", "admittime"]].sort_values(
        ["subject_id", "admittime"], kind="stable")
    nxt = adm.groupby("subject_id")["admittime"].shift(-1)
    next_admit = pd.Series(nxt.to_numpy(), index=adm["hadm_id"].to_numpy())
    gap = cohort["hadm_id"].map(next_admit) - cohort["dischtime"]
    label = (gap <= pd.Timedelta(days=days)).astype(float)
    return _unobserved_to_nan(label.where(~_died(cohort), np.nan), cohort, tables, days)


def _unobserved_to_nan(label: pd.Series, cohort: pd.DataFrame, tables: dict, days: float) -> pd.Series:
    """A negative label after discharge is only known if the patient stayed observed for `days`: with an
    `observation_periods` table (OMOP), negatives whose period ends sooner (or that lie outside every
    period) become NaN. Sources without the table are taken as fully observed."""
    periods = tables.get("observation_periods")
    if periods is None:
        return label
    spans = cohort[["hadm_id", "subject_id", "dischtime"]].merge(periods, on="subject_id")
    spans = spans[(spans["start_time"] <= spans["dischtime"]) & (spans["dischtime"] <= spans["end_time"])]
    until = cohort["hadm_id"].map(spans.groupby("hadm_id")["end_time"].max())
    short = ~(until >= cohort["dischtime"] + pd.Timedelta(days=days))  # NaT (no period) counts as short
    return label.where(~((label == 0) & short.to_numpy()), np.nan)


@rule
def lab_rise_after_index(cohort: pd.DataFrame, tables: dict, itemid: int, hours: float,
                         ratio: float, delta: float) -> pd.Series:
    """KDIGO-style rise of a lab after the index time over its last value before it."""
    ev = tables["events"]
    ev = ev.loc[ev["itemid"] == itemid, ["hadm_id", "charttime", "valuenum"]].dropna(subset=["valuenum"])
    ev = ev.merge(cohort[["hadm_id", "admittime", "index_time"]], on="hadm_id")
    before = ev[(ev["charttime"] >= ev["admittime"]) & (ev["charttime"] < ev["index_time"])]
    base = before.sort_values("charttime", kind="stable").groupby("hadm_id")["valuenum"].last()
    horizon = ev["index_time"] + pd.Timedelta(hours=hours)
    after = ev[(ev["charttime"] > ev["index_time"]) & (ev["charttime"] <= horizon)]
    peak = after.groupby("hadm_id")["valuenum"].max()
    b, p = cohort["hadm_id"].map(base), cohort["hadm_id"].map(peak)
    # tolerance: 0.4 -> 0.6 is a 1.5x rise even though 1.5 * 0.4 == 0.6000000000000001
    label = ((p >= ratio * b - 1e-9) | (p - b >= delta - 1e-9)).astype(float)
    return label.where(b.notna() & p.notna(), np.nan)


@rule
def diagnosis_in_admission(cohort: pd.DataFrame, tables: dict, icd_prefixes: list[str]) -> pd.Series:
    dx = tables["diagnoses"]
    hit = dx["icd_code"].astype(str).str.startswith(tuple(icd_prefixes))
    return cohort["hadm_id"].isin(dx.loc[hit, "hadm_id"]).astype(float)


@rule
def diagnosis_code_in_admission(cohort: pd.DataFrame, tables: dict, codes: list) -> pd.Series:
    """Any of `codes` (exact, e.g. OMOP condition concept ids) coded on this admission."""
    dx = tables["diagnoses"]
    hit = dx["icd_code"].astype(str).isin([str(c) for c in codes])
    return cohort["hadm_id"].isin(dx.loc[hit, "hadm_id"]).astype(float)


@rule
def diagnosis_within_after_discharge(cohort: pd.DataFrame, tables: dict, codes: list, days: float
                                     ) -> pd.Series:
    """Any of `codes` (exact) diagnosed in (discharge, discharge + `days`], in hospital or not.

    Dated conditions come from the `conditions` table (OMOP); other sources date each diagnosis at its
    admission's admittime. NaN after an in-hospital death, and for unobserved negatives.
    """
    cond = tables.get("conditions")
    if cond is None:
        cond = tables["diagnoses"].merge(tables["admissions"][["hadm_id", "admittime"]], on="hadm_id")
        cond = cond.rename(columns={"icd_code": "code", "admittime": "charttime"})
    cond = cond.loc[cond["code"].astype(str).isin([str(c) for c in codes]), ["subject_id", "charttime"]]
    hits = cohort[["hadm_id", "subject_id", "dischtime"]].merge(cond, on="subject_id")
    after = hits["charttime"] - hits["dischtime"]
    found = hits.loc[(after > pd.Timedelta(0)) & (after <= pd.Timedelta(days=days)), "hadm_id"]
    label = cohort["hadm_id"].isin(found).astype(float)
    return _unobserved_to_nan(label.where(~_died(cohort), np.nan), cohort, tables, days)


def check_outcomes(names: list[str], definitions: dict) -> None:
    """Fail early, before any work, when a config asks for an outcome with no usable rule definition
    (canonical layout; mtl_core/sources/layouts.py says which layouts label by rule)."""
    for name in names:
        if name not in definitions:
            raise ConfigError(f"outcome '{name}' is not defined in data_contracts/outcomes.yaml or the "
                              f"source kind's outcomes_<kind>.yaml "
                              f"(known: {', '.join(definitions)})")
        if definitions[name].get("rule") not in RULES:
            raise ConfigError(f"outcome '{name}': unknown rule '{definitions[name].get('rule')}' "
                              f"(known: {', '.join(RULES)})")


def build_labels(cohort: pd.DataFrame, tables: dict, names: list[str], definitions: dict) -> pd.DataFrame:
    """Labels frame: hadm_id plus one float column per requested outcome, in the order asked."""
    check_outcomes(names, definitions)
    out = pd.DataFrame({"hadm_id": cohort["hadm_id"].to_numpy()})
    for name in names:
        params = {k: v for k, v in definitions[name].items() if k not in ("rule", "description")}
        out[name] = RULES[definitions[name]["rule"]](cohort, tables, **params).to_numpy(dtype=float)
    return out
