"""The whole run config (`Config`) and `load_config`, which reads it from YAML."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from mtl_core.config.base import _Strict
from mtl_core.config.data import CohortConfig, EngineConfig, FeatureConfig, IngestConfig, SplitConfig
from mtl_core.config.model import ModelConfig, TrainConfig
from mtl_core.config.monitoring import MonitoringConfig
from mtl_core.config.review import EvaluationConfig, RegistryConfig
from mtl_core.config.sources import SOURCE_KINDS, AnySource, CodeFeatureConfig, SyntheticSource
from mtl_core.config.structure import OutcomeStructureConfig, find_cycle
from mtl_core.errors import ConfigError


class Config(_Strict):
    name: str = "default"
    workspace: str = "workspace"
    source: AnySource = SyntheticSource()
    cohort: CohortConfig = CohortConfig()
    outcomes: list[str] = Field(min_length=1)
    # what each outcome means, for the model card; entries of `outcomes` may also be
    # {name: ..., description: ...} (tabular sources have no definitions in data_contracts/)
    outcome_descriptions: dict[str, str] = {}
    # nested outcomes (a implies b); entries of `outcomes` may also say {name: a, implies: [b]}
    outcome_structure: OutcomeStructureConfig = OutcomeStructureConfig()
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
    monitoring: MonitoringConfig = MonitoringConfig()

    @model_validator(mode="before")
    @classmethod
    def _outcome_entries(cls, value: Any) -> Any:
        """`outcomes` entries as {name, description, implies} become a name plus outcome_descriptions
        (and outcome_structure.implies pairs)."""
        if isinstance(value, dict) and isinstance(value.get("outcomes"), list):
            names, described, implied = [], dict(value.get("outcome_descriptions") or {}), []
            for entry in value["outcomes"]:
                if isinstance(entry, dict) and set(entry) <= {"name", "description", "implies"} and "name" in entry:
                    names.append(entry["name"])
                    if entry.get("description"):
                        described[str(entry["name"])] = str(entry["description"])
                    targets = entry.get("implies") or []
                    implied += [[entry["name"], t] for t in ([targets] if isinstance(targets, str) else targets)]
                else:
                    names.append(entry)
            value = {**value, "outcomes": names, "outcome_descriptions": described}
            if implied:
                structure = value.get("outcome_structure")
                structure = dict(structure) if isinstance(structure, dict) else {}
                value["outcome_structure"] = {**structure, "implies": list(structure.get("implies") or []) + implied}
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
    def _source_fits_sections(self) -> Config:
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
    def _own_model_name(self) -> Config:
        if self.registry.model_name is None:
            self.registry = self.registry.model_copy(update={"model_name": default_model_name(self.name)})
        return self

    @model_validator(mode="after")
    def _overrides_name_outcomes(self) -> Config:
        for what, named in (("train.outcome_overrides", self.train.outcome_overrides),
                            ("evaluation.operating_points.outcomes", self.evaluation.operating_points.outcomes),
                            ("outcome_descriptions", self.outcome_descriptions),
                            ("monitoring.coding_lag_days", self.monitoring.coding_lag_days)):
            unknown = set(named) - set(self.outcomes)
            if unknown:
                raise ValueError(f"{what} names outcomes not in `outcomes`: {sorted(unknown)}")
        return self

    @model_validator(mode="after")
    def _structure_names_outcomes(self) -> Config:
        pairs = self.outcome_structure.pairs()
        unknown = sorted({o for pair in pairs for o in pair} - set(self.outcomes))
        if unknown:
            raise ValueError(f"outcome_structure names outcomes not in `outcomes`: {unknown}")
        same = [a for a, b in pairs if a == b]
        if same:
            raise ValueError(f"outcome_structure: outcome '{same[0]}' cannot imply itself")
        cycle = find_cycle(pairs)
        if cycle:
            raise ValueError(f"outcome_structure: implications form a cycle ({' -> '.join(cycle)}); "
                             "outcomes that imply each other are one outcome")
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
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start} cannot be decoded; save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"config {path} is invalid: {problems}") from None
