"""Bad-input cases of the `tabular` source: one flat file with one defect each (see cases.py)."""
from __future__ import annotations

import numpy as np
import yaml

from tests.bad_inputs.cases import Bad, _flat, _rows, _truncate, case
from tests.bad_inputs.fixtures import tabular_config


@case
def tabular_missing_file(tmp, g):
    cfg = tabular_config(tmp / "config.yaml", tmp / "ws", tmp / "absent.csv")
    return Bad("run", cfg, ["source.path", "tabular file not found", "absent.csv"])


@case
def tabular_id_column_missing(tmp, g):
    return _flat(tmp, g, "ingest", ["table 'tabular'", "id_column names ['stay_id']", "not in the file"],
                 edit=lambda d: d.drop(columns=["stay_id"]))


@case
def tabular_duplicate_ids(tmp, g):
    def dup(d):
        d.loc[d.index[1:3], "stay_id"] = d["stay_id"].iloc[0]
        return d
    return _flat(tmp, g, "ingest", ["table 'tabular'", "'stay_id'", "unique", "3 rows"], edit=dup)


@case
def tabular_outcome_values_outside_0_1(tmp, g):
    return _flat(tmp, g, "ingest", ["outcome column 'sepsis'", "isin {0, 1, missing}", "4 rows", "'2.0'"],
                 edit=lambda d: _rows(d, 4, "sepsis", 2))


@case
def tabular_outcome_as_text(tmp, g):
    def text(d):
        d["in_hospital_mortality"] = d["in_hospital_mortality"].map({0.0: "no", 1.0: "yes"})
        return d
    return _flat(tmp, g, "ingest", ["outcome column 'in_hospital_mortality'", "isin {0, 1, missing}",
                                    "'no'"], edit=text)


@case
def tabular_all_missing_outcome(tmp, g):
    def blank(d):
        d["aki"] = np.nan
        return d
    return _flat(tmp, g, "run", ["outcome column 'aki'", "no labelled rows"], edit=blank)


@case
def tabular_outcome_with_one_class(tmp, g):
    def zeros(d):
        d["sepsis"] = d["sepsis"].where(d["sepsis"].isna(), 0.0)
        return d
    return _flat(tmp, g, "run", ["outcome column 'sepsis'", "only class 0", "needs both 0 and 1"], edit=zeros)


@case
def tabular_unknown_outcome(tmp, g):
    return _flat(tmp, g, "ingest", ["outcomes names ['delirium']", "not in the file"],
                 outcomes=["in_hospital_mortality", "delirium"])


@case
def tabular_text_in_numeric_feature(tmp, g):
    return _flat(tmp, g, "ingest", ["feature column 'creatinine_mean'", "wrong dtype", "expected numbers",
                                 "3 rows", "'<0.3'"], edit=lambda d: _rows(d, 3, "creatinine_mean", "<0.3"))


@case
def tabular_listed_feature_missing(tmp, g):
    return _flat(tmp, g, "ingest", ["feature_columns names ['lactate_peak']", "not in the file"],
                 source={"feature_columns": ["age", "lactate_peak"]})


@case
def tabular_excluded_column_missing(tmp, g):
    # a misspelt exclusion would let an identifier in as a feature: it must fail, not pass silently
    return _flat(tmp, g, "ingest", ["exclude_columns names ['mrn_typo']", "not in the file"],
                 source={"exclude_columns": ["mrn_typo"]})


@case
def tabular_no_feature_columns(tmp, g):
    return _flat(tmp, g, "ingest", ["no feature columns left", "at least one feature"],
                 source={"feature_columns": []})


@case
def tabular_reserved_column_name(tmp, g):
    def with_split(d):
        d["split"] = "train"
        return d
    return _flat(tmp, g, "ingest", ["['split']", "reserved", "exclude_columns"], edit=with_split)


@case
def tabular_missing_group_values(tmp, g):
    return _flat(tmp, g, "ingest", ["table 'tabular'", "'patient'", "not_nullable", "2 rows"],
                 edit=lambda d: _rows(d, 2, "patient", np.nan))


@case
def tabular_unsupported_file_type(tmp, g):
    return _flat(tmp, g, "ingest", ["table.xlsx", "unsupported type", ".parquet, .csv.gz, .csv"],
                 name="table.csv", after=lambda p: p.rename(p.with_name("table.xlsx")),
                 source={"path": str(tmp / "table.xlsx")})


@case
def tabular_empty_file(tmp, g):
    return _flat(tmp, g, "ingest", ["table.csv is empty"], after=lambda p: p.write_bytes(b""))


@case
def tabular_header_only_csv(tmp, g):
    return _flat(tmp, g, "ingest", ["table 'tabular' is empty"], edit=lambda d: d.head(0))


@case
def tabular_truncated_parquet(tmp, g):
    return _flat(tmp, g, "ingest", ["table.parquet", "not a readable Parquet file"], name="table.parquet",
                 after=_truncate)


@case
def tabular_non_utf8_csv(tmp, g):
    def latin1(path):
        path.write_bytes(path.read_text().replace("Other", "Autre sécu", 3).encode("latin-1"))
    return _flat(tmp, g, "ingest", ["table.csv", "not UTF-8", "line"], after=latin1)


@case
def tabular_duplicate_column_names(tmp, g):
    def twice(path):
        lines = path.read_text().split("\n", 1)
        path.write_text(lines[0].replace(",gender,", ",age,", 1) + "\n" + lines[1])
    return _flat(tmp, g, "ingest", ["table.csv", "duplicate column name", "'age'"], after=twice)


@case
def tabular_subgroup_not_a_feature(tmp, g):
    return _flat(tmp, g, "ingest", ["evaluation.subgroups", "'ward'", "feature column"],
                 evaluation={"subgroups": ["gender", "ward"]})


@case
def tabular_with_features_section(tmp, g):
    bad = _flat(tmp, g, "run", ["features: not used by source kind 'tabular'", "source.feature_columns"])
    raw = yaml.safe_load(bad.config.read_text())
    raw["features"] = {"items": {"creatinine": 50912}}
    bad.config.write_text(yaml.safe_dump(raw))
    return bad


@case
def tabular_gate_subgroup_not_a_feature(tmp, g):
    return _flat(tmp, g, "ingest", ["registry.subgroup_margins", "'ethnicity'", "feature column"],
                 registry={"subgroup_margins": {"ethnicity": 0.05}})


@case
def tabular_identifier_left_as_feature(tmp, g):
    # `mrn` not excluded: one value per row would be a category the model (and its input example) keeps
    return _flat(tmp, g, "run", ["feature column 'mrn'", "612 distinct values in 612 rows",
                                 "identifier", "exclude_columns"], source={"exclude_columns": []})


@case
def tabular_labels_break_a_declared_implication(tmp, g):
    # issue 19: aki declared implied by in-hospital death; 3 rows say death without aki
    def contradict(d):
        d["aki"] = np.maximum(d["aki"], d["in_hospital_mortality"])
        dead = d.index[d["in_hospital_mortality"] == 1][:3]
        d.loc[dead, "aki"] = 0
        return d
    return _flat(tmp, g, "ingest", ["table 'tabular'", "labels contradict the declared outcome_structure",
                                    "3 rows with 'in_hospital_mortality' = 1 but 'aki' = 0"], edit=contradict,
                 outcome_structure={"implies": [["in_hospital_mortality", "aki"]]})
