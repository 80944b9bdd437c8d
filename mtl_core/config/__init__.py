"""Typed run configuration: one object describes a run, loaded once from YAML and passed explicitly.

One module per group of sections; every name is importable from here, as before the split."""
from mtl_core.config.base import _Strict
from mtl_core.config.data import CohortConfig, EngineConfig, FeatureConfig, IngestConfig, SplitConfig
from mtl_core.config.loader import Config, _UniqueKeyLoader, default_model_name, load_config
from mtl_core.config.model import ModelConfig, OutcomeOverride, TrainConfig
from mtl_core.config.monitoring import MonitoringConfig
from mtl_core.config.review import (
    DecisionCurveConfig,
    DriftConfig,
    EvaluationConfig,
    OperatingPointRule,
    OperatingPointsConfig,
    RegistryConfig,
)
from mtl_core.config.sources import (
    SOURCE_KINDS,
    WINDOW,
    AnySource,
    CodeFeatureConfig,
    MedsSource,
    MimicIVSource,
    OmopSource,
    SourceConfig,
    SyntheticSource,
    TabularSource,
)
from mtl_core.config.structure import OutcomeStructureConfig

__all__ = [
    "SOURCE_KINDS", "WINDOW", "AnySource", "CodeFeatureConfig", "CohortConfig", "Config", "DecisionCurveConfig",
    "DriftConfig", "EngineConfig", "EvaluationConfig", "FeatureConfig", "IngestConfig", "MedsSource",
    "MimicIVSource", "ModelConfig", "MonitoringConfig", "OmopSource", "OperatingPointRule", "OperatingPointsConfig",
    "OutcomeOverride", "OutcomeStructureConfig",
    "RegistryConfig", "SourceConfig", "SplitConfig", "SyntheticSource", "TabularSource", "TrainConfig",
    "_Strict", "_UniqueKeyLoader", "default_model_name", "load_config",
]
