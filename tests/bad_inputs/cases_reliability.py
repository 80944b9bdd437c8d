"""Bad-input cases that passed the contracts and crashed later (issue 13): non-finite and absurd values,
nested Parquet columns, invalid layer sizes, duplicated YAML keys, and path problems."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tests.bad_inputs.cases import Bad, _flat, _mimic, case
from tests.bad_inputs.fixtures import tabular_config, write_file


def _values(df: pd.DataFrame, col: str, values: list) -> pd.DataFrame:
    df[col] = df[col].astype(float)
    df.loc[df.index[1:1 + len(values)], col] = values
    return df


@case
def tabular_infinite_and_absurd_feature_values(tmp, g):
    # every bad column in one message, each with its rule and row count
    def bad(d):
        return _values(_values(d, "creatinine_mean", [np.inf, -np.inf, np.inf]), "lactate_max", [1e308, -1e300])
    return _flat(tmp, g, "ingest", ["table 'tabular'", "feature column 'creatinine_mean'", "finite", "3 rows",
                                    "feature column 'lactate_max'", "2 rows"],
                 edit=bad, name="table.parquet")


@case
def mimic_infinite_lab_values(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'events'", "'valuenum'", "finite", "4 rows"],
                  edit={"hosp/labevents": lambda d: _values(d, "valuenum", [np.inf, -np.inf, 1e308, 1e200])},
                  suffix={"hosp/labevents": ".parquet"})


@case
def tabular_nested_parquet_columns(tmp, g):
    def nested(d):
        d["codes"] = [[1.0, 2.0]] * len(d)
        d["vitals"] = [{"hr": 80.0, "sbp": 120.0}] * len(d)
        return d
    return _flat(tmp, g, "ingest", ["table.parquet", "'codes' (list", "'vitals' (struct", "flat type"],
                 edit=nested, name="table.parquet")


@case
def config_hidden_layers_empty(tmp, g):
    return _flat(tmp, g, "run", ["model.hidden", "at least 1 item"], model={"hidden": []})


@case
def config_hidden_layer_negative(tmp, g):
    return _flat(tmp, g, "run", ["model.hidden.0", "greater than 0"], model={"hidden": [-5]})


@case
def config_duplicate_yaml_key(tmp, g):
    bad = _flat(tmp, g, "run", ["config", "key 'epochs' appears twice", "keep one"])
    text = bad.config.read_text().replace("  epochs: 12\n", "  epochs: 12\n  epochs: 3\n", 1)
    assert "epochs: 3" in text
    bad.config.write_text(text)
    return bad


@case
def source_path_symlink_loop(tmp, g):
    (tmp / "loop_a.csv").symlink_to(tmp / "loop_b.csv")
    (tmp / "loop_b.csv").symlink_to(tmp / "loop_a.csv")
    cfg = tabular_config(tmp / "config.yaml", tmp / "ws", tmp / "loop_a.csv")
    return Bad("run", cfg, ["source.path", "loop_a.csv", "symlink loop"])


@case
def workspace_path_is_a_file(tmp, g):
    table = write_file(g.flat, tmp / "table.csv")
    (tmp / "ws").write_text("not a folder\n")
    cfg = tabular_config(tmp / "config.yaml", tmp / "ws", table)
    return Bad("run", cfg, ["workspace", "/ws is a file, not a folder"])
