"""Features from event codes: the training split's most frequent codes, counted and aggregated over
look-back windows that end strictly before each prediction time.

For any event source that can be put as (subject_id, time, code, numeric_value) rows. A column per
(code, window, aggregate): `<code>__<window>_count` for every code, and `_mean`, `_min`, `_max`,
`_last` of the numeric values for codes that carried values in training; static codes (null time)
get `<code>__static_count`. The window [t - w, t) never includes an event at or after t, so nothing
recorded at the prediction time or later can reach a feature.

Work is per partition and vectorised: events are sorted once by (subject, code, time); every
(prediction, code of that subject) pair finds its window by binary search on a combined key; counts
and sums come from prefix sums, "last" from a forward-filled index, min/max over whole histories from
per-group running extremes and over finite windows from one `reduceat` pass. Memory grows with the
events and pairs of one partition, never with the cohort; output is float32.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mtl_core.config import CodeFeatureConfig

NUMERIC = ("mean", "min", "max", "last")
UNIT_US = {"min": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}


def window_us(window: str) -> int | None:
    """Length of a window in microseconds; None for "all" (the whole history)."""
    if window == "all":
        return None
    for unit in sorted(UNIT_US, key=len, reverse=True):
        if window.endswith(unit):
            return int(window[:-len(unit)]) * UNIT_US[unit]
    raise ValueError(f"unknown window '{window}'")


@dataclass(frozen=True)
class Vocabulary:
    """The codes that become features, in order, and what kind of columns each gets."""
    codes: tuple[str, ...]
    numeric: tuple[bool, ...]  # carried numeric values in training: gets mean/min/max/last
    static: tuple[bool, ...]   # occurred without a time in training: gets a static count

    def columns(self, windows: list[str], aggregates: list[str]) -> list[str]:
        return [name for _, _, _, name in self._layout(windows, aggregates)]

    def _layout(self, windows, aggregates):
        """(code index, window index or -1 for static, aggregate, column name) for every column."""
        out = []
        for c, code in enumerate(self.codes):
            if self.static[c]:
                out.append((c, -1, "count", f"{code}__static_count"))
            for w, window in enumerate(windows):
                for agg in aggregates:
                    if agg == "count" or self.numeric[c]:
                        out.append((c, w, agg, f"{code}__{window}_{agg}"))
        return out


class CodeCounter:
    """Counts codes over batches of training events (bounded memory: one row per distinct code)."""

    def __init__(self) -> None:
        self.totals = pd.DataFrame(columns=["n", "n_numeric", "n_static"], dtype="int64")

    def add(self, table: pa.Table) -> None:
        """table: code, numeric_value (optional) and time columns of training events."""
        n = table.num_rows
        if n == 0:
            return
        valued = (pc.is_valid(table.column("numeric_value")) if "numeric_value" in table.column_names
                  else pa.array(np.zeros(n, bool)))
        parts = pa.table({"code": table.column("code"), "numeric": pc.cast(valued, pa.int64()),
                          "static": pc.cast(pc.is_null(table.column("time")), pa.int64())})
        agg = parts.group_by("code").aggregate([("numeric", "count"), ("numeric", "sum"), ("static", "sum")])
        df = agg.to_pandas().set_index("code")
        df.columns = ["n", "n_numeric", "n_static"]
        self.totals = self.totals.add(df.astype("int64"), fill_value=0).astype("int64")

    def vocabulary(self, top_n: int) -> Vocabulary:
        """The top_n codes by event count (ties by code, so the choice is stable)."""
        t = self.totals.reset_index(names="code").sort_values(["n", "code"], ascending=[False, True])
        t = t.head(top_n)
        return Vocabulary(tuple(t["code"].astype(str)), tuple(t["n_numeric"] > 0), tuple(t["n_static"] > 0))


def _ranks(*arrays: np.ndarray) -> list[np.ndarray]:
    """Dense ranks of int64 values over all arrays together (keeps the order, shrinks the range)."""
    uniq = np.unique(np.concatenate(arrays))
    return [np.searchsorted(uniq, a) for a in arrays]


def code_features(events: pd.DataFrame, index: pd.DataFrame, vocab: Vocabulary,
                  cfg: CodeFeatureConfig) -> pd.DataFrame:
    """float32 frame, one row per row of `index` (subject_id, prediction_time), one column per
    vocab.columns(cfg.windows, cfg.aggregates). Counts are 0 when nothing happened in the window;
    aggregates are NaN without a value there."""
    windows, aggs = list(cfg.windows), list(cfg.aggregates)
    layout = vocab._layout(windows, aggs)
    out = np.full((len(index), len(layout)), np.nan, dtype=np.float32)
    col = {(c, w, a): k for k, (c, w, a, _) in enumerate(layout)}
    for k, (_, _, a, _) in enumerate(layout):
        if a == "count":
            out[:, k] = 0.0
    codes = pd.Categorical(events["code"], categories=list(vocab.codes)).codes
    keep = codes >= 0
    subj = events["subject_id"].to_numpy()[keep]
    cidx = codes[keep].astype(np.int64)
    time = events["time"].to_numpy()[keep]
    value = events["numeric_value"].to_numpy(dtype=np.float64)[keep]
    static = np.isnat(time)
    _static_counts(out, col, index, subj[static], cidx[static])
    subj, cidx, time, value = subj[~static], cidx[~static], time[~static], value[~static]
    if len(subj) and len(index):
        _timed(out, col, index, subj, cidx, time.astype("datetime64[us]").astype(np.int64), value, windows, aggs)
    return pd.DataFrame(out, columns=[name for *_, name in layout])


def _static_counts(out, col, index, subj, cidx) -> None:
    if not len(subj):
        return
    counts = pd.DataFrame({"s": subj, "c": cidx}).value_counts()
    rows = index[["subject_id"]].reset_index(drop=True).reset_index(names="row")
    pairs = rows.merge(counts.rename("n").reset_index(), left_on="subject_id", right_on="s")
    for c, grp in pairs.groupby("c"):
        if (c, -1, "count") in col:
            out[grp["row"].to_numpy(), col[(c, -1, "count")]] = grp["n"].to_numpy(np.float32)


def _timed(out, col, index, subj, cidx, t_ev, value, windows, aggs) -> None:
    order = np.lexsort((value, t_ev, cidx, subj))  # value breaks time ties: input order never matters
    subj, cidx, t_ev, value = subj[order], cidx[order], t_ev[order], value[order]
    new = np.r_[True, (subj[1:] != subj[:-1]) | (cidx[1:] != cidx[:-1])]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    groups = pd.DataFrame({"subject_id": subj[starts], "g": np.arange(len(starts)), "c": cidx[starts],
                           "start": starts})
    rows = pd.DataFrame({"subject_id": index["subject_id"].to_numpy(), "row": np.arange(len(index)),
                         "t": index["prediction_time"].to_numpy().astype("datetime64[us]").astype(np.int64)})
    pairs = rows.merge(groups, on="subject_id")
    if pairs.empty:
        return
    g, c, row, t = (pairs[k].to_numpy() for k in ("g", "c", "row", "t"))
    spans = [window_us(w) for w in windows]
    lows = [t - s for s in spans if s is not None]
    ranked = _ranks(t_ev, t, *lows)
    m = np.int64(max(int(r.max(initial=0)) for r in ranked) + 2)  # keys of one group stay below the next
    ev_key = group * m + ranked[0]
    pos_t = np.searchsorted(ev_key, g * m + ranked[1], side="left")  # events of the group before t
    valid = ~np.isnan(value)
    filled = np.where(valid, value, 0.0)
    csum, cnum = np.r_[0.0, np.cumsum(filled)], np.r_[0, np.cumsum(valid)]
    last_idx = np.maximum.accumulate(np.where(valid, np.arange(len(value)), -1))
    running = _running_extremes(value, group) if {"min", "max"} & set(aggs) and None in spans else None
    lo_iter = iter(ranked[2:])
    for w, span in enumerate(spans):
        pos_lo = groups["start"].to_numpy()[g] if span is None else np.searchsorted(
            ev_key, g * m + next(lo_iter), side="left")
        n = pos_t - pos_lo
        stats = {"count": n.astype(np.float32)}
        if set(aggs) & set(NUMERIC):
            n_num = cnum[pos_t] - cnum[pos_lo]
            has = n_num > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                stats["mean"] = np.where(has, (csum[pos_t] - csum[pos_lo]) / n_num, np.nan)
            j = last_idx[np.maximum(pos_t - 1, 0)]
            stats["last"] = np.where(has & (j >= pos_lo), value[np.maximum(j, 0)], np.nan)
            for agg, ufunc in (("min", np.fmin), ("max", np.fmax)):
                if agg not in aggs:
                    continue
                if span is None:
                    extreme = running[agg][np.maximum(pos_t - 1, 0)]
                else:
                    extreme = _window_reduce(ufunc, value, pos_lo, pos_t)
                stats[agg] = np.where(has, extreme, np.nan)
        for agg in aggs:
            ks = np.array([col.get((ci, w, agg), -1) for ci in range(int(c.max()) + 1)])[c]
            ok = ks >= 0
            out[row[ok], ks[ok]] = stats[agg][ok].astype(np.float32)


def _running_extremes(value: np.ndarray, group: np.ndarray) -> dict[str, np.ndarray]:
    """Per position: min and max of the group's values up to and including it (NaN-skipping)."""
    s = pd.Series(value)
    by = s.groupby(group)
    return {"min": by.cummin().groupby(group).ffill().to_numpy(),
            "max": by.cummax().groupby(group).ffill().to_numpy()}


def _window_reduce(ufunc, value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """ufunc over value[lo:hi] for each pair, in one reduceat pass (NaN where the slice is empty).

    Pairs are visited in order of lo so the slices between windows add up to one pass over value."""
    order = np.argsort(lo, kind="stable")
    idx = np.empty(2 * len(lo), dtype=np.int64)
    idx[0::2], idx[1::2] = lo[order], hi[order]
    padded = np.r_[value, np.nan]  # hi may equal len(value)
    reduced = ufunc.reduceat(padded, idx)[0::2]
    out = np.empty(len(lo))
    out[order] = np.where(hi[order] > lo[order], reduced, np.nan)
    return out
