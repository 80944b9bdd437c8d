"""The subgroup columns a review or gate looks at, from a feature frame (age bands derived from age)."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from mtl_core.errors import ConfigError, DataError
from mtl_core.evaluation.metrics import age_bands


def subgroup_frame(f: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = {}
    for c in columns:
        if c == "age_band":
            out[c] = age_bands(f["age"].to_numpy())
        elif c in f:
            out[c] = f[c].to_numpy()
        else:
            raise DataError(f"evaluation.subgroups: column '{c}' is not in the feature set")
    return pd.DataFrame(out, index=pd.RangeIndex(len(f)))  # no subgroup columns: still one row per row of f


def check_subgroup_columns(margins: Iterable[str], columns) -> None:
    """registry.subgroup_margins must name feature columns (or age_band, derived from age)."""
    unknown = [c for c in margins if c not in columns and c != "age_band"]
    if unknown:
        raise ConfigError(f"registry.subgroup_margins: columns {unknown} are not in the feature set")
