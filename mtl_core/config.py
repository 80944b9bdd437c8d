"""Typed run configuration: one object describes a run, loaded once from YAML and passed explicitly."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mtl_core.errors import ConfigError


class _Strict(BaseModel):
    # Typos in a config must fail loudly rather than silently fall back to a default.
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    kind: Literal["synthetic"] = "synthetic"
    n_patients: int = Field(12_000, gt=0)
    seed: int = 7
    start_year: int = 2015
    years: int = Field(6, gt=0)


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
    train: float = Field(0.70, gt=0, lt=1)
    val: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    seed: int = 11

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError("split fractions train + val + test must sum to 1")
        return self


class ModelConfig(_Strict):
    sharing: str = Field("hard", description="hard | soft | mmoe (mtl_core/sharing/)")
    hidden: list[int] = [128, 64]
    head_hidden: int = Field(0, ge=0, description="0 = a linear head per outcome")
    dropout: float = Field(0.1, ge=0, lt=1)
    head_dropout: float = Field(0.0, ge=0, lt=1)
    soft_lambda: float = Field(1e-3, ge=0, description="soft sharing: pull between towers")
    n_experts: int = Field(4, gt=0, description="mmoe: number of shared experts")


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
    calibration: str = Field("platt", description="none | temperature | platt (fitted on val)")
    outcome_overrides: dict[str, OutcomeOverride] = {}


class EvaluationConfig(_Strict):
    n_boot: int = Field(1000, ge=0, description="bootstrap resamples for CIs (0 = no CIs)")
    ci_level: float = Field(0.95, gt=0, lt=1)
    ece_bins: int = Field(10, gt=1)
    # feature columns to report AUROC by; "age_band" is derived from age
    subgroups: list[str] = ["gender", "age_band", "admission_type"]
    baselines: list[str] = Field(["logistic", "hist_gb", "single_task_net"],
                                 description="single-task baselines fitted on the same split")
    transfer_margin: float = Field(0.0, ge=0, description="AUROC margin for the negative-transfer flag")


class RegistryConfig(_Strict):
    experiment: str = "clinical-mtl"
    model_name: str = "clinical-multi-outcome"
    auroc_margin: float = Field(0.01, ge=0, description="allowed per-outcome AUROC drop vs champion")


class Config(_Strict):
    name: str = "default"
    workspace: str = "workspace"
    source: SourceConfig = SourceConfig()
    cohort: CohortConfig = CohortConfig()
    outcomes: list[str] = Field(min_length=1)
    features: FeatureConfig
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    registry: RegistryConfig = RegistryConfig()

    @model_validator(mode="after")
    def _overrides_name_outcomes(self) -> "Config":
        unknown = set(self.train.outcome_overrides) - set(self.outcomes)
        if unknown:
            raise ValueError(f"train.outcome_overrides names outcomes not in `outcomes`: {sorted(unknown)}")
        return self

    def digest(self, *sections: str) -> str:
        """Short stable hash of the named sections (all when none), for cache keys."""
        data = self.model_dump(include=set(sections) if sections else None)
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


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"config {path} is invalid: {problems}") from None
