"""Code features: exact window aggregates (checked against a plain loop), no look-ahead, vocabulary."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mtl_core.config import CodeFeatureConfig
from mtl_core.dataset.code_features import CodeCounter, Vocabulary, code_features, window_us

T0 = pd.Timestamp("2020-01-01")


def _events(seed: int = 0, n: int = 2500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ev = pd.DataFrame({
        "subject_id": rng.integers(0, 25, n),
        "time": T0 + pd.to_timedelta(rng.integers(0, 60 * 24, n), unit="h"),
        "code": rng.choice(["LAB//A", "LAB//B", "DX//C", "ADM//D", "RARE"], n, p=[.3, .3, .2, .18, .02]),
        "numeric_value": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)).astype("float32")})
    ev.loc[ev["code"].isin(["DX//C", "ADM//D"]), "numeric_value"] = np.nan
    ev.loc[rng.random(n) < 0.04, "time"] = pd.NaT  # static rows
    ev["time"] = ev["time"].astype("datetime64[us]")
    return ev


def _index(ev: pd.DataFrame, seed: int = 1, n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.DataFrame({"subject_id": rng.integers(0, 27, n),  # 25, 26: subjects without events
                        "prediction_time": (T0 + pd.to_timedelta(rng.integers(0, 70 * 24, n), unit="h"))
                        .astype("datetime64[us]")})
    timed = ev.dropna(subset=["time"]).head(20)  # prediction times exactly at event times
    idx.loc[:19, ["subject_id", "prediction_time"]] = timed[["subject_id", "time"]].to_numpy()
    idx["subject_id"] = idx["subject_id"].astype("int64")
    idx["prediction_time"] = idx["prediction_time"].astype("datetime64[us]")
    return idx


def _vocab(ev: pd.DataFrame, top_n: int = 4) -> Vocabulary:
    counter = CodeCounter()
    counter.add(pa.Table.from_pandas(ev))
    return counter.vocabulary(top_n)


CFG = CodeFeatureConfig(windows=["24h", "7d", "all"])


def _expected(ev, idx, vocab, cfg) -> pd.DataFrame:
    rows = []
    for s, t in zip(idx["subject_id"], idx["prediction_time"]):
        row = {}
        for code, numeric, static in zip(vocab.codes, vocab.numeric, vocab.static):
            mine = ev[(ev["subject_id"] == s) & (ev["code"] == code)]
            if static:
                row[f"{code}__static_count"] = float(mine["time"].isna().sum())
            # the value breaks ties between events at the same time, as in code_features
            timed = mine.dropna(subset=["time"]).sort_values(["time", "numeric_value"], kind="stable")
            for w in cfg.windows:
                span = window_us(w)
                lo = t - pd.Timedelta(microseconds=span) if span else pd.Timestamp.min
                x = timed[(timed["time"] < t) & (timed["time"] >= lo)]
                v = x["numeric_value"].dropna().astype(float)
                row[f"{code}__{w}_count"] = float(len(x))
                if numeric:
                    row.update({f"{code}__{w}_mean": v.mean() if len(v) else np.nan,
                                f"{code}__{w}_min": v.min() if len(v) else np.nan,
                                f"{code}__{w}_max": v.max() if len(v) else np.nan,
                                f"{code}__{w}_last": v.iloc[-1] if len(v) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def test_window_aggregates_match_a_plain_loop():
    ev = _events()
    idx = _index(ev)
    vocab = _vocab(ev)
    got = code_features(ev, idx, vocab, CFG)
    want = _expected(ev, idx, vocab, CFG)
    assert list(got.columns) == vocab.columns(CFG.windows, CFG.aggregates)
    assert set(got.dtypes) == {np.dtype("float32")}
    pd.testing.assert_frame_equal(got[want.columns], want.astype("float32"), rtol=1e-5, atol=1e-5)
    assert (got.filter(like="_count") > 0).any().all()  # every count column is exercised


def test_shuffled_events_give_the_same_features():
    ev = _events()
    idx = _index(ev)
    vocab = _vocab(ev)
    shuffled = ev.sample(frac=1.0, random_state=5).reset_index(drop=True)
    pd.testing.assert_frame_equal(code_features(ev, idx, vocab, CFG), code_features(shuffled, idx, vocab, CFG))


def test_events_at_or_after_the_prediction_time_change_no_feature():
    ev = _events()
    idx = _index(ev)
    vocab = _vocab(ev)
    before = code_features(ev, idx, vocab, CFG)
    rng = np.random.default_rng(3)
    late = idx.loc[idx.index.repeat(3)].reset_index(drop=True)
    late_events = pd.DataFrame({
        "subject_id": late["subject_id"].to_numpy(),
        "time": (late["prediction_time"] + pd.to_timedelta(np.tile([0, 1, 400], len(idx)), unit="h"))
        .astype("datetime64[us]").to_numpy(),
        "code": rng.choice(list(vocab.codes), len(late)),
        "numeric_value": np.float32(1e6)})
    # a later event of one row is an earlier event of another row of the same subject: compare rows
    # whose subject has no other prediction after it
    last = idx.groupby("subject_id")["prediction_time"].transform("max") == idx["prediction_time"]
    own = late_events[late_events["time"] >= late_events["subject_id"].map(
        idx.groupby("subject_id")["prediction_time"].max())]
    after = code_features(pd.concat([ev, own], ignore_index=True), idx, vocab, CFG)
    pd.testing.assert_frame_equal(after[last.to_numpy()], before[last.to_numpy()])


def test_an_event_just_before_the_prediction_time_does_count():
    ev = _events()
    idx = _index(ev).head(30)
    vocab = _vocab(ev)
    code = vocab.codes[0]
    extra = pd.DataFrame({"subject_id": idx["subject_id"].to_numpy(),
                          "time": (idx["prediction_time"] - pd.Timedelta(microseconds=1)).to_numpy(),
                          "code": code, "numeric_value": np.float32(1e6)})
    before = code_features(ev, idx, vocab, CFG)
    after = code_features(pd.concat([ev, extra], ignore_index=True), idx, vocab, CFG)
    assert (after[f"{code}__24h_count"] == before[f"{code}__24h_count"] + 1).all()
    assert (after[f"{code}__all_last"] == 1e6).all()


def test_vocabulary_is_the_most_frequent_codes_with_stable_ties():
    ev = pd.DataFrame({"subject_id": 1, "time": pd.Timestamp("2020-01-01"),
                       "code": ["B"] * 3 + ["A"] * 3 + ["C"] * 5 + ["D"], "numeric_value": np.nan})
    ev.loc[ev["code"] == "C", "numeric_value"] = 1.0
    counter = CodeCounter()
    counter.add(pa.Table.from_pandas(ev.head(6)))
    counter.add(pa.Table.from_pandas(ev.tail(6)))  # counts add up over batches
    vocab = counter.vocabulary(3)
    assert vocab.codes == ("C", "A", "B") and vocab.numeric == (True, False, False)


@pytest.mark.parametrize("window,us", [("24h", 86_400_000_000), ("30d", 30 * 86_400_000_000),
                                       ("15min", 900_000_000), ("2w", 14 * 86_400_000_000), ("all", None)])
def test_window_lengths(window, us):
    assert window_us(window) == us


def test_bad_windows_fail_in_the_config():
    with pytest.raises(ValueError, match="windows"):
        CodeFeatureConfig(windows=["24h", "3 months"])
