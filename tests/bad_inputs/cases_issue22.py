"""Bad input that crashed late or was silently accepted (issue 22): sizes past their bounds, a registered
model name MLflow or a path cannot hold, a config that is not UTF-8, fractional ids that would merge
patients, a death before its admission, and numbers with thousands separators."""
from __future__ import annotations

import pandas as pd

from tests.bad_inputs.cases import _flat, _mimic, case


@case
def config_not_utf8(tmp, g):
    bad = _flat(tmp, g, "run", ["config", "is not UTF-8 text", "byte 0xe9", "save the file as UTF-8"])
    text = bad.config.read_text().replace("name: ", "# caf\u00e9 ward\nname: ", 1)
    bad.config.write_bytes(text.encode("latin-1"))
    return bad


@case
def config_model_name_with_path_separator(tmp, g):
    return _flat(tmp, g, "run", ["registry.model_name", "'icu/mortality' cannot be a registered model name",
                                 "letters, digits"], registry={"model_name": "icu/mortality"})


@case
def config_hidden_layer_huge(tmp, g):
    return _flat(tmp, g, "run", ["model.hidden.0", "less than or equal to 4096"], model={"hidden": [50_000_000]})


@case
def config_too_many_layers(tmp, g):
    return _flat(tmp, g, "run", ["model.hidden", "at most 16 items"], model={"hidden": [8] * 40})


@case
def config_n_boot_huge(tmp, g):
    return _flat(tmp, g, "run", ["evaluation.n_boot", "less than or equal to 20000"],
                 evaluation={"n_boot": 1_000_000_000})


@case
def config_batch_size_huge(tmp, g):
    return _flat(tmp, g, "run", ["train.batch_size", "less than or equal to 65536"],
                 train={"batch_size": 100_000_000})


@case
def tabular_fractional_patient_ids(tmp, g):
    def fractional(d):
        code = pd.factorize(d["patient"])[0]
        d["patient"] = code + 1 + 0.1 * (code % 9 + 1)  # 1.1, 2.2, ...: 1.1 and 1.2 would be one int
        return d
    return _flat(tmp, g, "ingest", ["table 'tabular'", "column 'patient'", "check whole-number ids failed",
                                    "rows", "shapes e.g. '9.9'", "can merge patients"], edit=fractional)


@case
def tabular_numbers_with_thousands_separators(tmp, g):
    def grouped(d):
        d["creatinine_mean"] = [f"{1000 + i % 900:,}" for i in range(len(d))]
        return d
    return _flat(tmp, g, "ingest", ["table 'tabular'", "feature column 'creatinine_mean'",
                                    "numbers with a thousands separator in", "'9,999'", "export plain numbers"],
                 edit=grouped)


@case
def mimic_death_before_admission(tmp, g):
    def died_first(d):
        d.loc[d.index[:3], "deathtime"] = "2001-01-01 00:00:00"
        return d
    return _mimic(tmp, g, "run", ["table 'admissions'", "died_after_admission", "deathtime", "3 rows"],
                  edit={"hosp/admissions": died_first})
