"""The gate's thresholds as plain numbers, read from `registry:` by field name."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from mtl_core.config import RegistryConfig
from mtl_core.errors import ConfigError

# Rules fields whose config key differs; every other field has the config key of its own name.
CONFIG_KEYS = {"default_floor": "default_auroc_floor"}


@dataclass(frozen=True)
class Rules:
    """The gate's thresholds as plain numbers (RegistryConfig documents each)."""
    auroc_margin: float = 0.01
    auroc_floors: Mapping[str, float] = field(default_factory=dict)
    default_floor: float = 0.5
    subgroup_margins: Mapping[str, float] = field(default_factory=dict)
    subgroup_min_events: int = 20
    max_ece: float | None = None
    calibration_slope_range: tuple[float, float] | None = None
    subgroup_auroc_floor: float | None = None
    max_tpr_gap: float | None = None
    max_fpr_gap: float | None = None
    min_comparison_rows: int = 100
    subgroup_auroc_drop: float | None = 0.10
    subgroup_sensitivity_drop: float | None = 0.20
    shortfall_min_events: int = 10
    shortfall_action: str = "warn"

    @classmethod
    def from_config(cls, registry: RegistryConfig) -> Rules:
        values = {}
        for f in fields(cls):
            v = getattr(registry, CONFIG_KEYS.get(f.name, f.name))
            values[f.name] = dict(v) if isinstance(v, Mapping) else v
        return cls(**values)

    @property
    def needs_fairness(self) -> bool:
        return any(v is not None for v in (self.subgroup_auroc_floor, self.max_tpr_gap, self.max_fpr_gap))

    @property
    def warns_fairness(self) -> bool:
        return self.subgroup_auroc_drop is not None or self.subgroup_sensitivity_drop is not None

    def floor(self, outcome: str) -> float:
        return self.auroc_floors.get(outcome, self.default_floor)


def check_rules(rules: Rules, outcomes: Sequence[str]) -> None:
    """Floors must name configured outcomes (a typo would otherwise silently apply the default)."""
    unknown = sorted(set(rules.auroc_floors) - set(outcomes))
    if unknown:
        raise ConfigError(f"registry.auroc_floors names outcomes not in `outcomes`: {unknown}")
