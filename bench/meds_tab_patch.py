"""MEDS-Tab 0.2.0's time-series tabulariser with its window aggregation corrected (run in its own venv).

Why: `generate_summarized_reps.compute_agg` first merges the events at each (subject, time) with
windows taken from a group_by's inclusive `max_index`, but `aggregate_matrix` reads `[min, max)`: a
timestamp holding one event is dropped whole and every other timestamp loses its last event. On an
export where each lab has its own charttime (ours), nearly all history vanishes (median 1 of 40 prior
events counted). The merged rows are then aggregated a second time with the same operator, so
`count` counts timestamps and `sum_sqd` squares the squares. `min` and `max` take the implicit zeros of
rows where the code is absent. bench/meds_tab_repro.py shows the upstream behaviour on three events.

A second fault: `generate_ts_features.get_long_value_df` keeps the events whose code is in the list of
feature names ("LAB//50912/value"), which no raw code ("LAB//50912") ever is, so every value/* feature
is empty on any dataset; the replacement compares with the names stripped of "/value".

A third fault, in meds-tab-cache-task: the labels are inner-joined with the shard's subjects (a polars
join that does not keep row order) and then as-of joined to the event times, which needs rows sorted by
time within each subject; unsorted, a label can take the features of a *later* event (future data).
`join_asof` is wrapped to sort both sides by (by, on) first, as its contract requires.

The replacement aggregates the raw event rows once, over the same rolling windows MEDS-Tab computes
(`get_rolling_window_indicies`, at every event time or at the label times): count, sum, sum_sqd, min and
max of the events of each code in the window, min and max over observed values only.

    bench/.venvs/meds_tab/bin/python bench/meds_tab_patch.py tabularize-time-series|cache-task <arguments>
"""
from __future__ import annotations

import sys

import numpy as np
import polars as pl
from scipy.sparse import csc_array, csr_array


def _range_reduce(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, op) -> np.ndarray:
    """op over values[lo:hi] for many ranges at once (a sparse table; every range non-empty)."""
    levels, span = [values], 1
    while 2 * span <= len(values):
        prev = levels[-1]
        levels.append(op(prev[:-span], prev[span:]))
        span *= 2
    k = np.floor(np.log2(hi - lo)).astype(int)
    out = np.empty(len(lo), dtype=values.dtype)
    for level in np.unique(k):
        sel = k == level
        table = levels[level]
        out[sel] = op(table[lo[sel]], table[hi[sel] - (1 << level)])
    return out


def window_aggregate(matrix, starts: np.ndarray, ends: np.ndarray, agg: str, num_features: int) -> csr_array:
    """Aggregate the event rows [starts[i], ends[i]) of `matrix` per column: one output row per window."""
    agg = agg.split("/")[-1]
    m = csc_array(matrix)
    rows_out, cols_out, data_out = [], [], []
    for j in range(m.shape[1]):
        r = m.indices[m.indptr[j]:m.indptr[j + 1]]
        d = m.data[m.indptr[j]:m.indptr[j + 1]]
        order = np.argsort(r, kind="stable")
        r, d = r[order], d[order]
        lo, hi = np.searchsorted(r, starts), np.searchsorted(r, ends)
        has = hi > lo
        if not has.any():
            continue
        if agg == "count":
            v = (hi - lo)[has]
        elif agg in ("sum", "sum_sqd"):
            x = d.astype(np.float64) ** (2 if agg == "sum_sqd" else 1)
            c = np.concatenate([[0.0], np.cumsum(x)])
            v = (c[hi] - c[lo])[has]
        elif agg in ("min", "max"):
            v = _range_reduce(d.astype(np.float64), lo[has], hi[has], np.minimum if agg == "min" else np.maximum)
        else:
            raise ValueError(f"Aggregation method '{agg}' not implemented.")
        rows_out.append(np.flatnonzero(has))
        cols_out.append(np.full(int(has.sum()), j))
        data_out.append(v)
    if not rows_out:
        return csr_array((len(starts), num_features), dtype=np.float32)
    data = np.concatenate(data_out)
    data = data.astype(np.int32 if agg == "count" else np.float32)
    return csr_array((data, (np.concatenate(rows_out), np.concatenate(cols_out))), shape=(len(starts), num_features))


def compute_agg(index_df, matrix, window_size, agg, num_features, label_df=None, use_tqdm=False) -> csr_array:
    """Drop-in for MEDS-Tab's compute_agg: the same windows, over the raw event rows, aggregated once."""
    from MEDS_tabular_automl.generate_summarized_reps import get_rolling_window_indicies

    groups = (index_df.with_row_index("index").group_by(["subject_id", "time"], maintain_order=True)
              .agg(pl.col("index").min().alias("first"), pl.col("index").max().alias("last")).collect())
    times = groups.lazy().select("subject_id", "time")
    windows = get_rolling_window_indicies(times, window_size, label_df)  # over unique times, [a, b)
    a, b = windows["min_index"].to_numpy().astype(np.int64), windows["max_index"].to_numpy().astype(np.int64)
    first, last = groups["first"].to_numpy().astype(np.int64), groups["last"].to_numpy().astype(np.int64)
    empty = a >= b
    starts = np.where(empty, 0, first[np.minimum(a, len(first) - 1)]) if len(first) else np.zeros_like(a)
    ends = np.where(empty, 0, last[np.maximum(b - 1, 0)] + 1) if len(first) else np.zeros_like(a)
    return window_aggregate(matrix, starts, ends, agg, num_features)


def get_long_value_df(df, ts_columns):
    """MEDS-Tab's get_long_value_df, matching raw codes against the feature names without "/value"."""
    from MEDS_tabular_automl.generate_ts_features import feature_name_to_code

    column_to_int = {feature_name_to_code(col): i for i, col in enumerate(ts_columns)}
    value_df = (df.with_row_index("index").drop_nulls("numeric_value")
                .filter(pl.col("code").is_in(list(column_to_int))).collect())
    cols = value_df["code"].cast(str).replace_strict(column_to_int, return_dtype=pl.Int64).to_numpy()
    return value_df["numeric_value"].to_numpy(), (value_df["index"].to_numpy(), cols)


_join_asof = pl.LazyFrame.join_asof


def _sorted_join_asof(self, other, *args, on=None, by=None, **kwargs):
    if on is not None and by is not None:
        self, other = self.sort([by, on]), other.sort([by, on])
    return _join_asof(self, other, *args, on=on, by=by, **kwargs)


def install() -> None:
    """Route MEDS-Tab's module-level look-ups (compute_agg, get_long_value_df) to the corrected ones
    and make every as-of join sort its inputs."""
    from MEDS_tabular_automl import generate_summarized_reps, generate_ts_features

    generate_summarized_reps.compute_agg = compute_agg
    generate_ts_features.get_long_value_df = get_long_value_df
    pl.LazyFrame.join_asof = _sorted_join_asof


if __name__ == "__main__":
    install()
    step = sys.argv.pop(1)
    if step == "tabularize-time-series":
        from MEDS_tabular_automl.scripts.tabularize_time_series import main
    elif step == "cache-task":
        from MEDS_tabular_automl.scripts.cache_task import main
    else:
        raise SystemExit(f"unknown step {step!r}: tabularize-time-series or cache-task")
    sys.argv[0] = f"meds-tab-{step}"
    main()
