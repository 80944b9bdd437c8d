"""Minimal reproductions of two MEDS-Tab 0.2.0 faults: one subject, three events at three times.

    bench/.venvs/meds_tab/bin/python bench/meds_tab_repro.py
prints
    full-history code/count at each event time: [0, 0, 0]   expected: [1, 2, 3]
    values kept for value/* features: 0   expected: 3
(`compute_agg` merges each timestamp's events over [min_index, max_index) where max_index is inclusive,
so a timestamp holding a single event is dropped; `get_long_value_df` matches raw codes against
feature names that end in "/value"; see bench/meds_tab_patch.py.)
"""
from __future__ import annotations

from datetime import datetime

import polars as pl
from scipy.sparse import csr_array


def upstream_counts() -> list[int]:
    from MEDS_tabular_automl.generate_summarized_reps import compute_agg

    times = [datetime(2020, 1, 1), datetime(2020, 1, 2), datetime(2020, 1, 3)]
    index_df = pl.LazyFrame({"subject_id": [1, 1, 1], "time": times})
    one_code = csr_array(([True, True, True], ([0, 1, 2], [0, 0, 0])), shape=(3, 1))
    out = compute_agg(index_df, one_code, "full", "code/count", 1)
    return [int(v) for v in out.toarray().ravel()]


def upstream_values() -> int:
    """How many of three lab values MEDS-Tab's value matrix keeps."""
    from MEDS_tabular_automl.generate_ts_features import get_flat_ts_rep

    events = pl.LazyFrame({"subject_id": [1, 1, 1], "time": [datetime(2020, 1, d) for d in (1, 2, 3)],
                           "code": ["LAB//1"] * 3, "numeric_value": [5.0, 6.0, 7.0]})
    _, matrix = get_flat_ts_rep("value/sum", ["LAB//1/code", "LAB//1/value"], events)
    return int(matrix.nnz)


if __name__ == "__main__":
    print(f"full-history code/count at each event time: {upstream_counts()}   expected: [1, 2, 3]")
    print(f"values kept for value/* features: {upstream_values()}   expected: 3")
