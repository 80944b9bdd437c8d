"""Quarantine mode of ingest: exactly the bad rows (and what hangs off them) leave, each with its reason."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import Config, IngestConfig, load_config
from mtl_core.data import lake
from mtl_core.data.quarantine import report_metrics
from mtl_core.errors import DataError
from mtl_core.sources import ingest_tables, load_source, validate_source
from tests.bad_inputs.fixtures import flat_frame, tabular_config

ORDERED = "table: ordered(earlier=admittime, later=dischtime)"


def _cfg(small_tables, mode: str = "quarantine", limit: float = 0.05) -> Config:
    cfg, _ = small_tables
    return cfg.model_copy(update={"ingest": IngestConfig(mode=mode, max_rejected_share=limit)})


def _copy(tables: dict) -> dict:
    return {name: df.copy() for name, df in tables.items()}


@pytest.fixture(scope="module")
def broken(small_tables):
    """Valid tables with known defects, and the keys each defect must take out."""
    _, good = small_tables
    t = _copy(good)
    pat, adm, ev = t["patients"], t["admissions"], t["events"]
    bad_patient = int(pat.loc[4, "subject_id"])
    pat.loc[4, "anchor_age"] = -3
    late = 10
    adm.loc[late, "dischtime"] = adm.loc[late, "admittime"] - pd.Timedelta(hours=2)
    dup_from, dup_to = 20, 21                     # row 20 takes row 21's hadm_id: both rows go
    lost_hadm = int(adm.loc[dup_from, "hadm_id"])  # nothing is left with this id: its events are orphans
    adm.loc[dup_from, "hadm_id"] = adm.loc[dup_to, "hadm_id"]
    orphan_rows = [3, 7]
    ev.loc[orphan_rows, "hadm_id"] = 999_999_999
    ev.loc[[50], "charttime"] = pd.NaT
    # admissions kept apart from the edited ones, so each expectation has one cause
    assert bad_patient not in set(adm.loc[[late, dup_from, dup_to], "subject_id"])
    return {"tables": t, "bad_patient": bad_patient, "late": int(adm.loc[late, "hadm_id"]),
            "dup": int(adm.loc[dup_to, "hadm_id"]), "lost": lost_hadm, "orphans": orphan_rows}


def test_exactly_the_bad_rows_leave_with_their_reasons(small_tables, broken):
    _, good = small_tables
    t = broken["tables"]
    before = _copy(t)
    clean, rejects = ingest_tables(t, _cfg(small_tables))
    for name in t:  # the input is never modified
        pdt.assert_frame_equal(t[name], before[name])

    adm, q_adm = t["admissions"], rejects.frame("admissions")
    patient_adms = set(adm.loc[adm["subject_id"] == broken["bad_patient"], "hadm_id"])
    assert patient_adms
    want = {broken["late"]: ORDERED, broken["dup"]: "hadm_id: field_uniqueness",
            **{h: "subject_id: references a rejected patient" for h in patient_adms}}
    assert sorted(q_adm["hadm_id"]) == sorted([*want, broken["dup"]])  # both rows of the duplicate
    assert dict(zip(q_adm["hadm_id"], q_adm["reason"])) == want
    assert list(q_adm.columns) == [*adm.columns, "reason"]

    q_pat = rejects.frame("patients")
    assert q_pat["subject_id"].tolist() == [broken["bad_patient"]]
    assert q_pat["reason"].tolist() == ["anchor_age: in_range(0, 120)"]

    removed = {broken["late"], broken["dup"], *patient_adms}
    q_ev = rejects.frame("events")
    ev = t["events"]
    expected = ev.index[ev["hadm_id"].isin(removed | {broken["lost"], 999_999_999}) | ev["charttime"].isna()]
    assert len(q_ev) == len(expected)
    reasons = q_ev.groupby("reason").size().to_dict()
    assert reasons == {
        "hadm_id: references a rejected admission": int(ev["hadm_id"].isin(removed).sum()),
        "hadm_id: references an unknown admission": int(ev["hadm_id"].isin({broken["lost"], 999_999_999}).sum()),
        "charttime: not_nullable": 1}
    q_dx = rejects.frame("diagnoses")
    assert set(q_dx["hadm_id"]) <= removed | {broken["lost"]}
    assert len(q_dx) == int(t["diagnoses"]["hadm_id"].isin(removed | {broken["lost"]}).sum()) > 0

    for name in t:  # kept + rejected = input, and what is kept meets every contract
        assert len(clean[name]) + len(rejects.rejected[name]) == len(t[name])
    assert not clean["admissions"]["hadm_id"].isin(removed).any()
    assert clean["admissions"]["hadm_id"].is_unique
    assert len(clean["truth"]) == len(good["truth"])
    validate_source(clean, _cfg(small_tables, "strict"))


def test_report_counts_match_the_quarantined_rows(small_tables, broken):
    _, rejects = ingest_tables(broken["tables"], _cfg(small_tables))
    files = rejects.files(0.05)
    report = json.loads(files["rejects.json"])
    assert report["max_rejected_share"] == 0.05
    for name, t in report["tables"].items():
        assert t["rows"] == len(broken["tables"][name])
        assert t["rejected"] == len(rejects.rejected[name])
        assert t["share"] == pytest.approx(t["rejected"] / t["rows"], abs=1e-6)
        assert sum(c["rows"] for c in t["checks"]) >= t["rejected"]  # a row may break several checks
    checks = {(c["column"], c["check"]): c["rows"] for c in report["tables"]["admissions"]["checks"]}
    assert checks[("hadm_id", "field_uniqueness")] == 2 and checks[("table", ORDERED[7:])] == 1
    assert set(files) == {"quarantine/patients.parquet", "quarantine/admissions.parquet",
                          "quarantine/events.parquet", "quarantine/diagnoses.parquet",
                          "rejects.json", "rejects.md"}  # truth lost nothing: no file
    assert "| admissions | hadm_id | field_uniqueness | 2 |" in files["rejects.md"]
    metrics = report_metrics(report)
    assert metrics["ingest/rejected/patients"] == 1.0
    assert metrics["ingest/rejected_share/events"] == report["tables"]["events"]["share"]
    assert "quarantine" not in json.dumps(metrics) and str(broken["dup"]) not in files["rejects.json"]


def test_share_over_the_limit_is_a_data_error_naming_table_and_share(small_tables, broken):
    _, rejects = ingest_tables(broken["tables"], _cfg(small_tables, limit=1.0))
    with pytest.raises(DataError) as info:
        ingest_tables(broken["tables"], _cfg(small_tables, limit=0.001))
    msg = " ".join(str(info.value).split())
    n = len(broken["tables"]["admissions"])
    assert rejects.share("admissions") > 0.001 > rejects.share("patients")  # 1 of 1,500 patients
    assert (f"table 'admissions': {len(rejects.rejected['admissions'])} of {n:,} rows rejected "
            f"({rejects.share('admissions'):.2%}), above ingest.max_rejected_share 0.10%") in msg, msg
    assert "table 'patients'" not in msg and "nothing written to the lake" in msg


def test_strict_mode_is_unchanged(small_tables, broken):
    with pytest.raises(DataError) as strict:
        ingest_tables(broken["tables"], _cfg(small_tables, "strict"))
    with pytest.raises(DataError) as direct:
        validate_source(broken["tables"], _cfg(small_tables, "strict"))
    assert str(strict.value) == str(direct.value)
    _, good = small_tables
    kept, none = ingest_tables(_copy(good), _cfg(small_tables, "strict"))
    assert none is None and all(kept[n] is not None and len(kept[n]) == len(good[n]) for n in good)


def test_clean_input_in_quarantine_mode_loses_nothing(small_tables):
    _, good = small_tables
    clean, rejects = ingest_tables(_copy(good), _cfg(small_tables))
    for name, df in good.items():
        pdt.assert_frame_equal(clean[name], df.reset_index(drop=True))
        assert len(rejects.rejected[name]) == 0
    assert set(rejects.files(0.05)) == {"rejects.json", "rejects.md"}


@pytest.mark.parametrize("defect, expect", [
    (lambda t: t["admissions"].drop(columns=["admittime"]), ["admissions", "admittime", "missing"]),
    (lambda t: t["admissions"].astype({"hadm_id": "float64"}), ["admissions", "hadm_id", "wrong dtype"]),
    (lambda t: t["admissions"].head(0), ["admissions", "is empty"]),
])
def test_table_wide_defects_stay_fatal_in_quarantine_mode(small_tables, defect, expect):
    _, good = small_tables
    t = _copy(good)
    t["admissions"] = defect(t)
    with pytest.raises(DataError) as info:
        ingest_tables(t, _cfg(small_tables))
    for part in expect:
        assert part in str(info.value), (part, str(info.value))


def test_a_table_emptied_by_quarantine_stops_even_at_limit_one(small_tables):
    _, good = small_tables
    t = _copy(good)
    t["diagnoses"]["hadm_id"] = 123  # every diagnosis references an unknown admission
    with pytest.raises(DataError, match=r"table 'diagnoses': .* rows rejected \(100.00%\), nothing left to ingest"):
        ingest_tables(t, _cfg(small_tables, limit=1.0))


def test_tabular_rows_are_quarantined_and_column_rules_stay_fatal(small_tables, tmp_path):
    cfg, tables = small_tables
    flat = flat_frame(tables, cfg)
    flat["aki"] = flat["aki"].astype(object)
    flat.loc[5, "aki"] = 2
    flat.loc[9, "stay_id"] = flat.loc[8, "stay_id"]
    flat.loc[12, "patient"] = None
    path = tmp_path / "t.csv"
    flat.to_csv(path, index=False)
    qcfg = load_config(tabular_config(tmp_path / "c.yaml", tmp_path / "ws", path,
                                      ingest={"mode": "quarantine", "max_rejected_share": 0.01}))
    loaded = load_source(qcfg)
    clean, rejects = ingest_tables(loaded, qcfg)
    q = rejects.frame("tabular")
    assert q["reason"].tolist() == ["aki: isin {0, 1, missing}", "stay_id: unique", "stay_id: unique",
                                    "patient: not_nullable"]
    assert q["stay_id"].tolist() == flat.loc[[5, 8, 9, 12], "stay_id"].tolist()
    assert len(clean["tabular"]) == len(flat) - 4
    loaded["tabular"]["aki"] = 0  # one class left: a column-wide defect no row removal mends
    with pytest.raises(DataError, match="outcome column 'aki': only class 0"):
        ingest_tables(loaded, qcfg)


def test_snapshot_holds_the_quarantine_files_atomically(tmp_path, small_tables, broken):
    clean, rejects = ingest_tables(broken["tables"], _cfg(small_tables))
    files = rejects.files(0.05)
    path, reused = lake.write_snapshot(clean, tmp_path / "lake", salt="synthetic", files=files)
    assert not reused
    assert (path / "rejects.json").read_text() == files["rejects.json"]
    back = pd.read_parquet(path / "quarantine" / "admissions.parquet")
    pdt.assert_frame_equal(back, files["quarantine/admissions.parquet"])
    manifest = lake.read_manifest(path)
    assert set(manifest["files"]) == set(files) and set(manifest["tables"]) == set(clean)
    assert set(lake.read_tables(path)) == set(clean)
    plain, _ = lake.write_snapshot(clean, tmp_path / "lake", salt="synthetic")
    assert plain != path  # the same kept rows with another quarantine are another snapshot
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == sorted([path.name, plain.name])
    assert np.isin(back["hadm_id"], clean["admissions"]["hadm_id"]).sum() == 0


def test_partitions_are_combined_and_the_limit_applies_to_the_whole_table(small_tables):
    from mtl_core.data.quarantine import combine
    from mtl_core.sources.synthetic import partitions

    cfg = _cfg(small_tables, limit=0.0012)
    parts = [_copy(p) for p in partitions(cfg.source, cfg.cohort.observation_hours, patients_per_partition=750)]
    assert len(parts) == 2
    first = parts[0]["admissions"]
    first.loc[[1, 2], "dischtime"] = first.loc[[1, 2], "admittime"] - pd.Timedelta(hours=1)
    results = [ingest_tables(p, cfg, check_share=False) for p in parts]
    assert results[0][1].share("admissions") > 0.0012  # over the limit within its partition ...
    with pytest.raises(DataError, match="table 'admissions'"):
        ingest_tables(parts[0], cfg)
    whole = combine([r for _, r in results])
    n = sum(len(p["admissions"]) for p in parts)
    assert whole.rows["admissions"] == n and len(whole.rejected["admissions"]) == 2
    assert whole.share("admissions") == pytest.approx(2 / n) and 2 / n <= 0.0012  # ... not over all
    whole.check(0.0012)
    assert whole.frame("admissions")["reason"].tolist() == [ORDERED, ORDERED]
    assert len(whole.rejected["events"]) == int(parts[0]["events"]["hadm_id"].isin(
        first.loc[[1, 2], "hadm_id"]).sum())
