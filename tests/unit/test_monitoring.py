"""Monitoring on simulated scored admissions: no false alarm without shift, a planted AUROC drop of ~0.05
found on its outcome only, open outcome windows masked as unknown (never negative), a subgroup far below
the whole named (watch), none without a drop."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config.monitoring import MonitoringConfig
from mtl_core.evaluation.bootstrap import fast_auroc_ap, percentile_ci, stratified_bootstrap
from mtl_core.monitoring.assess import assess, series
from mtl_core.monitoring.timing import extract_time, mask_unknown, windows

OUTCOMES = {"mortality": -2.6, "readmission": -2.0, "prolonged": -1.0}  # intercepts: ~9%, 15%, 30%
CARD_ROWS = 6000  # a card's test split: its CI is what the card promised


def simulate(n: int, seed: int, noisy: str | None = None, noise: float = 0.0):
    """y and a calibrated model's p per outcome; `noisy` gets an unmeasured cause the model cannot see."""
    rng = np.random.default_rng(seed)
    Y, P = {}, {}
    for o, a in OUTCOMES.items():
        z = a + 1.3 * rng.normal(size=n)
        extra = noise * rng.normal(size=n) if o == noisy else 0.0
        Y[o] = (rng.random(n) < 1 / (1 + np.exp(-(z + extra)))).astype(float)
        P[o] = 1 / (1 + np.exp(-z))
    return pd.DataFrame(Y), pd.DataFrame(P)


def card(seed: int = 999) -> dict:
    Y, P = simulate(CARD_ROWS, seed)
    out = {}
    for o in OUTCOMES:
        y, p = Y[o].to_numpy(), P[o].to_numpy()
        lo, hi = percentile_ci(stratified_bootstrap(y, p, 500, 0)[0])
        flag = p >= np.quantile(p, 0.8)
        out[o] = {"auroc": fast_auroc_ap(y, p)[0], "auroc_ci_low": lo, "floor": 0.5,
                  "alert_rate": float(flag.mean()), "sensitivity": float(flag[y == 1].mean())}
    return out


def check(Y, P, cards, month: str = "2023-01", thresholds=None):
    win = windows(pd.Series(pd.Timestamp(f"{month}-15"), index=Y.index), "month")
    thresholds = thresholds or {o: np.quantile(P[o], 0.8) for o in OUTCOMES}
    flags = {o: (P[o].to_numpy() >= thresholds[o]).astype(int) for o in OUTCOMES}
    masked = {o: np.zeros(len(Y), bool) for o in OUTCOMES}
    return assess(Y, masked, P, flags, win, cards, MonitoringConfig(), n_boot=300)


@pytest.fixture(scope="module")
def cards():
    return card()


def test_no_shift_gives_no_false_alarm_over_20_seeded_windows(cards):
    statuses = [check(*simulate(4000, seed), cards)["verdicts"] for seed in range(20)]
    flat = [v["status"] for s in statuses for v in s.values()]
    assert flat.count("degraded") == 0, [v["reason"] for s in statuses for v in s.values() if v["status"] != "stable"]
    # watch (an estimate beyond a limit, CI not conclusive) is allowed now and then; measured here
    assert flat.count("watch") / len(flat) <= 0.15, flat.count("watch")


def test_planted_auroc_drop_of_005_degrades_that_outcome_only(cards):
    Y, P = simulate(20000, 5, noisy="readmission", noise=1.45)
    Y0, P0 = simulate(20000, 5)
    drop = (fast_auroc_ap(Y0["readmission"].to_numpy(), P0["readmission"].to_numpy())[0]
            - fast_auroc_ap(Y["readmission"].to_numpy(), P["readmission"].to_numpy())[0])
    assert 0.04 <= drop <= 0.07, drop
    result = check(Y, P, cards)
    assert result["verdicts"]["readmission"]["status"] == "degraded"
    assert "AUROC" in result["verdicts"]["readmission"]["reason"]
    assert result["degraded"] == ["readmission"]
    assert result["overall"] == "degraded"


def test_too_few_events_is_not_an_alarm(cards):
    Y, P = simulate(60, 1)
    v = check(Y, P, cards)["verdicts"]
    assert all(x["status"] == "stable" and x["reason"].startswith("not judged") for x in v.values())


def test_open_readmission_windows_are_masked_not_negative():
    discharge = pd.to_datetime(["2023-01-05", "2023-03-10", "2023-03-25", "2023-03-28"])
    times = pd.DataFrame({"admittime": discharge - pd.Timedelta(days=4), "dischtime": discharge,
                          "index_time": discharge - pd.Timedelta(days=3)})
    labels = pd.DataFrame({"readmission_30d": [0.0, 0.0, 1.0, 0.0], "in_hospital_mortality": [0.0, 0.0, 0.0, 1.0]})
    definitions = {"readmission_30d": {"rule": "readmission_within", "days": 30},
                   "in_hospital_mortality": {"rule": "died_in_hospital"}}
    as_of = extract_time(pd.DataFrame({"admittime": times["admittime"], "dischtime": discharge}))
    assert as_of == pd.Timestamp("2023-03-28")
    out, masked = mask_unknown(labels, times, definitions, as_of, {})
    # discharged within 30 days of the extract: unknown, even the one already readmitted
    assert out["readmission_30d"].isna().tolist() == [False, True, True, True]
    assert masked["readmission_30d"].tolist() == [False, True, True, True]
    assert out["in_hospital_mortality"].tolist() == [0.0, 0.0, 0.0, 1.0]  # known at discharge
    lagged, _ = mask_unknown(labels, times, definitions, as_of, {"in_hospital_mortality": 7})
    assert lagged["in_hospital_mortality"].isna().tolist() == [False, False, True, True]


def test_series_are_stepped_by_window_end(cards):
    Y, P = simulate(3000, 2)
    months = pd.Series(np.where(np.arange(3000) < 1500, pd.Timestamp("2023-01-10"), pd.Timestamp("2023-02-10")))
    win = windows(months, "month")
    flags = {o: None for o in OUTCOMES}
    masked = {o: np.zeros(3000, bool) for o in OUTCOMES}
    result = assess(Y, masked, P, flags, win, cards, MonitoringConfig(judge_windows=1), n_boot=100)
    assert [w["window"] for w in result["windows"]] == ["2023-01", "2023-02"]
    ends = {end for name, _, end in series(result) if name == "monitor/auroc/mortality"}
    assert ends == {pd.Timestamp("2023-01-31"), pd.Timestamp("2023-02-28")}
    assert result["verdicts"]["mortality"]["period"] == ["2023-02", "2023-02"]


def test_subgroups_of_the_judged_period_are_reported(cards):
    Y, P = simulate(4000, 3)
    groups = pd.DataFrame({"gender": np.where(np.arange(4000) % 2, "F", "M")})
    win = windows(pd.Series(pd.Timestamp("2023-01-15"), index=Y.index), "month")
    masked = {o: np.zeros(4000, bool) for o in OUTCOMES}
    result = assess(Y, masked, P, {o: None for o in OUTCOMES}, win, cards, MonitoringConfig(), n_boot=100,
                    groups=groups)
    found = result["verdicts"]["prolonged"]["subgroups"]
    assert [(g["column"], g["group"]) for g in found] == [("gender", "F"), ("gender", "M")]
    assert sum(g["known"] for g in found) == 4000 and all(0.7 < g["auroc"] < 0.9 for g in found)


def _with_groups(n: int, seed: int, planted: float = 0.0):
    """Scored admissions with three subgroup columns; `planted`: an unmeasured cause of `prolonged` in the
    'urgent' admissions only (12%), so the model ranks them worse there than elsewhere."""
    Y, P = simulate(n, seed)
    rng = np.random.default_rng(seed + 100)
    kind = np.where(rng.random(n) < 0.12, "urgent", np.where(rng.random(n) < 0.5, "elective", "emergency"))
    groups = pd.DataFrame({"gender": np.where(rng.random(n) < 0.5, "F", "M"), "admission_type": kind,
                           "age_band": np.array(["18-44", "45-64", "65+"])[rng.integers(0, 3, n)]})
    if planted:
        b = kind == "urgent"
        z = np.log(P.loc[b, "prolonged"] / (1 - P.loc[b, "prolonged"])) + planted * rng.normal(size=b.sum())
        Y.loc[b, "prolonged"] = (rng.random(b.sum()) < 1 / (1 + np.exp(-z))).astype(float)
    win = windows(pd.Series(pd.Timestamp("2023-01-15"), index=Y.index), "month")
    masked = {o: np.zeros(n, bool) for o in OUTCOMES}
    return Y, P, groups, win, masked


def test_a_subgroup_far_below_the_whole_is_named_and_makes_the_outcome_watch(cards):
    Y, P, groups, win, masked = _with_groups(12000, 4, planted=4.0)
    # the card promised no more than the whole still shows: only the subgroup is wrong
    relaxed = {**cards, "prolonged": {**cards["prolonged"], "auroc_ci_low": 0.70}}
    result = assess(Y, masked, P, {o: None for o in OUTCOMES}, win, relaxed, MonitoringConfig(), n_boot=200,
                    groups=groups)
    v = result["verdicts"]["prolonged"]
    whole = v["measures"]["auroc"]
    urgent = next(g for g in v["subgroups"] if g["group"] == "urgent")
    assert whole - urgent["auroc"] >= 0.10, (whole, urgent)
    assert v["status"] == "watch", v["reason"]
    assert "subgroup admission_type=urgent" in v["reason"]
    assert f"AUROC {urgent['auroc']:.3f}" in v["reason"] and f"vs {whole:.3f} overall" in v["reason"]
    named = [f for f in v["findings"] if f["check"] == "subgroup"]
    assert [f["status"] for f in named] == ["watch"] and "urgent" in named[0]["detail"]
    assert all(f["check"] != "subgroup" for o in ("mortality", "readmission")
               for f in result["verdicts"][o]["findings"])
    # never degraded by itself, switched off by null, quiet when the group is under the size limit
    off = assess(Y, masked, P, {o: None for o in OUTCOMES}, win, relaxed,
                 MonitoringConfig(subgroup_auroc_drop=None), n_boot=200, groups=groups)
    assert all(f["check"] != "subgroup" for f in off["verdicts"]["prolonged"]["findings"])
    small = assess(Y, masked, P, {o: None for o in OUTCOMES}, win, relaxed,
                   MonitoringConfig(subgroup_min_known=urgent["known"] + 1), n_boot=200, groups=groups)
    assert all(f["check"] != "subgroup" for f in small["verdicts"]["prolonged"]["findings"])


def test_no_subgroup_drop_gives_no_subgroup_reason_over_10_seeded_periods(cards):
    found = []
    for seed in range(10):
        Y, P, groups, win, masked = _with_groups(4000, seed)
        result = assess(Y, masked, P, {o: None for o in OUTCOMES}, win, cards, MonitoringConfig(), n_boot=200,
                        groups=groups)
        found += [f["detail"] for v in result["verdicts"].values() for f in v["findings"] if f["check"] == "subgroup"]
        assert not any("subgroup" in v["reason"] for v in result["verdicts"].values())
    assert found == []
