"""Source `mimic_iv` and the file readers: a MIMIC-IV-layout export maps losslessly to canonical tables."""
from __future__ import annotations

import gzip

import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import load_config
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import files, load_source, mimic_iv, validate_source
from tests.bad_inputs.fixtures import OUTPATIENT_LABS, mimic_config, mimic_frames, write_file, write_mimic_dir

CANONICAL = ("patients", "admissions", "events", "diagnoses")


@pytest.fixture(scope="module")
def export(small_tables, tmp_path_factory):
    _, tables = small_tables
    return write_mimic_dir(tables, tmp_path_factory.mktemp("mimic") / "export")


def _load(folder, tmp_path):
    cfg = load_config(mimic_config(tmp_path / "c.yaml", tmp_path / "ws", folder))
    return cfg, load_source(cfg)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = list(a.columns)
    pdt.assert_frame_equal(a.sort_values(key).reset_index(drop=True),
                           b.sort_values(key).reset_index(drop=True))


def test_export_maps_to_the_canonical_tables_exactly(small_tables, export, tmp_path):
    _, tables = small_tables
    cfg, got = _load(export, tmp_path)
    assert set(got) == set(CANONICAL)  # no truth table: a real source does not know the probabilities
    for name in CANONICAL:
        assert list(got[name].columns) == list(tables[name].columns), name
        _same(tables[name], got[name])  # values and dtypes (int64, datetime64[ns], str, float64)
    validate_source(got, cfg)


def test_labs_without_admission_are_dropped(small_tables, export, tmp_path):
    _, tables = small_tables
    raw = pd.read_csv(export / "hosp/labevents.csv.gz", usecols=["hadm_id"])
    assert raw["hadm_id"].isna().sum() == OUTPATIENT_LABS
    _, got = _load(export, tmp_path)
    assert len(got["events"]) == len(tables["events"])
    assert got["events"]["hadm_id"].dtype == "int64"


def test_chartevents_are_optional(small_tables, export, tmp_path):
    _, tables = small_tables
    folder = tmp_path / "labs_only"
    for stem, df in mimic_frames(tables).items():
        if stem != "icu/chartevents":
            write_file(df, folder / f"{stem}.csv")
    _, got = _load(folder, tmp_path)
    assert (got["events"]["itemid"] < 220_000).all()
    assert len(got["events"]) == int((tables["events"]["itemid"] < 220_000).sum())


def test_parquet_is_preferred_when_several_formats_exist(small_tables, tmp_path):
    _, tables = small_tables
    folder = write_mimic_dir(tables, tmp_path / "export")
    pat = mimic_frames(tables)["hosp/patients"]
    write_file(pat.assign(anchor_age=pat["anchor_age"] + 1), folder / "hosp/patients.parquet")
    assert files.find(folder, "hosp/patients").name == "patients.parquet"
    _, got = _load(folder, tmp_path)
    assert (got["patients"]["anchor_age"].to_numpy() == pat["anchor_age"].to_numpy() + 1).all()


def test_only_needed_columns_are_read(small_tables, export, monkeypatch, tmp_path):
    from mtl_core.sources import scan

    seen = {}
    real = scan._csv_batches

    def spy(path, names, types):
        seen[path.name] = list(names)
        return real(path, names, types)

    monkeypatch.setattr(scan, "_csv_batches", spy)
    _load(export, tmp_path)
    assert seen["labevents.csv.gz"] == ["subject_id", "hadm_id", "itemid", "charttime", "valuenum"]
    assert "comments" not in seen["labevents.csv.gz"] and "race" not in seen["admissions.csv.gz"]


def test_timestamps_iso_variants_and_offsets_become_naive():
    s = pd.Series(["2180-05-06 22:23:00", "2180-05-06T22:23:00", "2180-05-06", None,
                   "2180-05-06 22:23:00+02:00"])
    t = files.as_time(s, "table 'x'", "t")
    assert str(t.dtype) == "datetime64[ns]"
    assert list(t.iloc[[0, 1, 2, 4]]) == [pd.Timestamp("2180-05-06 22:23"), pd.Timestamp("2180-05-06 22:23"),
                                        pd.Timestamp("2180-05-06"), pd.Timestamp("2180-05-06 20:23")]
    assert pd.isna(t.iloc[3])
    aware = pd.Series(pd.to_datetime(["2180-01-01 10:00"]).tz_localize("Europe/Berlin"))
    assert files.as_time(aware, "x", "t").iloc[0] == pd.Timestamp("2180-01-01 09:00")


def test_unparseable_timestamps_are_counted_and_their_shapes_shown():
    # the format, not the date of care: digits as 9, letters as a
    with pytest.raises(DataError, match=r"table 'x': column 't': check ISO 8601 timestamp failed in 2 rows "
                                        r"\(shapes e.g. '99/99/9999', 'aaaa'\)"):
        files.as_time(pd.Series(["2180-05-06", "06/05/2180", "soon", None]), "table 'x'", "t")


def test_integers_reject_fractions_and_text():
    with pytest.raises(DataError, match="check integer failed in 2 rows"):
        files.as_int(pd.Series([1.0, 2.5, 3.0, "x"], dtype=object), "t", "c")
    assert files.as_int(pd.Series([1.0, 2.0]), "t", "c").dtype == "int64"


def test_missing_folder_and_file_instead_of_folder_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="MIMIC-IV folder not found"):
        mimic_iv.export_folder(str(tmp_path / "nope"))
    (tmp_path / "f.csv").write_text("a\n1\n")
    with pytest.raises(ConfigError, match="is a file"):
        mimic_iv.export_folder(str(tmp_path / "f.csv"))


def test_reader_names_the_file_for_undecodable_text(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress("a,b\n1,2\n3,caf\xe9\n".encode("latin-1")))
    with pytest.raises(DataError, match=r"t.csv.gz: not UTF-8 text \(first bad byte on line 3\)"):
        files.read(path)


def test_reader_reports_every_missing_column(tmp_path):
    path = write_file(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"required column\(s\) \['b', 'c'\] are missing"):
        files.read(path, ["a", "b", "c"])
