"""The vectorised window aggregates equal a plain pandas group-by (the implementation they replaced) on
events in any order, with ties in time, missing values, other items and events outside the window."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt

from mtl_core.dataset.features import window_aggregates

ITEMS = {"creatinine": 50912, "lactate": 50813, "heart_rate": 220045}
AGGS = ["mean", "min", "max", "last", "count"]


def _reference(cohort: pd.DataFrame, events: pd.DataFrame, items: dict, aggregates: list) -> pd.DataFrame:
    ev = events.loc[events["itemid"].isin(items.values()), ["hadm_id", "itemid", "charttime", "valuenum"]]
    ev = ev.dropna(subset=["valuenum"]).merge(cohort[["hadm_id", "admittime", "index_time"]], on="hadm_id")
    ev = ev[(ev["charttime"] >= ev["admittime"]) & (ev["charttime"] < ev["index_time"])]
    ev = ev.sort_values(["hadm_id", "itemid", "charttime"], kind="stable")
    wide = ev.groupby(["hadm_id", "itemid"])["valuenum"].agg(aggregates).unstack("itemid")
    name_of = {v: k for k, v in items.items()}
    wide.columns = [f"{name_of[itemid]}_{agg}" for agg, itemid in wide.columns]
    wanted = [f"{name}_{agg}" for name in items for agg in aggregates]
    out = wide.reindex(index=cohort["hadm_id"], columns=wanted).astype(float)
    counts = [c for c in wanted if c.endswith("_count")]
    out[counts] = out[counts].fillna(0.0)
    return out.reset_index(drop=True)


def _data(seed: int, n_adm: int = 300, n_ev: int = 20_000):
    rng = np.random.default_rng(seed)
    admit = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n_adm), unit="min")
    cohort = pd.DataFrame({"hadm_id": rng.permutation(np.arange(n_adm) * 7 + 1000), "admittime": admit})
    cohort["index_time"] = cohort["admittime"] + pd.Timedelta(hours=24)
    hadm = rng.choice(np.r_[cohort["hadm_id"].to_numpy(), [5, 6]], n_ev)   # some of no cohort admission
    start = cohort.set_index("hadm_id")["admittime"].reindex(hadm).fillna(pd.Timestamp("2020-01-01"))
    # whole hours from -6 h to +36 h: many ties in time, events before, inside and after the window
    t = start.to_numpy() + pd.to_timedelta(rng.integers(-6, 36, n_ev), unit="h").to_numpy()
    value = np.round(rng.normal(5, 2, n_ev), 1)
    value[rng.random(n_ev) < 0.05] = np.nan
    items = rng.choice([50912, 50813, 220045, 999], n_ev)
    events = pd.DataFrame({"subject_id": 1, "hadm_id": hadm, "itemid": items, "charttime": t, "valuenum": value})
    return cohort, events


def test_equals_the_pandas_group_by_on_shuffled_events_with_ties():
    for seed in range(3):
        cohort, events = _data(seed)
        events = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        got = window_aggregates(cohort, events, ITEMS, AGGS)
        pdt.assert_frame_equal(got, _reference(cohort, events, ITEMS, AGGS), rtol=1e-12)
        assert got["heart_rate_count"].sum() > 1000 and got["creatinine_last"].notna().sum() > 200


def test_a_subset_of_aggregates_and_no_events_at_all():
    cohort, events = _data(7)
    got = window_aggregates(cohort, events, ITEMS, ["last", "count"])
    pdt.assert_frame_equal(got, _reference(cohort, events, ITEMS, ["last", "count"]))
    none = window_aggregates(cohort, events.head(0), ITEMS, AGGS)
    assert none.shape == (len(cohort), len(ITEMS) * len(AGGS))
    assert (none.filter(like="_count") == 0).all().all() and none.filter(like="_mean").isna().all().all()
