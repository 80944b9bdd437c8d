"""Bad-input cases of the `omop` source: the tiny OMOP CDM of tests/omop_cdm.py with one defect each."""
from __future__ import annotations

from tests.bad_inputs.cases import Bad, case
from tests.omop_cdm import omop_config, omop_frames, write_omop_dir


def _omop(tmp, command: str, expect: list[str], edit=None) -> Bad:
    frames = omop_frames()
    if edit:
        edit(frames)
    folder = write_omop_dir(tmp / "cdm", frames)
    return Bad(command, omop_config(tmp / "config.yaml", tmp / "ws", folder), expect)


@case
def omop_missing_table(tmp, g):
    return _omop(tmp, "ingest", ["omop source", "required table 'condition_occurrence' not found"],
                 edit=lambda f: f.update(condition_occurrence=None))


@case
def omop_measurement_for_unknown_visit(tmp, g):
    def orphan(f):
        f["measurement"].loc[[0, 1, 4], "visit_occurrence_id"] = 424242
    return _omop(tmp, "ingest", ["table 'measurement'", "measurement.csv", "'visit_occurrence_id'",
                                 "references visits not in visit_occurrence", "3 rows"],
                 edit=orphan)


@case
def omop_not_a_duckdb_file(tmp, g):
    (tmp / "cdm.duckdb").write_bytes(b"this is not a database\n" * 200)
    return Bad("ingest", omop_config(tmp / "config.yaml", tmp / "ws", tmp / "cdm.duckdb"),
               ["omop source", "cdm.duckdb", "not a readable DuckDB database"])
