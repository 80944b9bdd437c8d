"""The `monitoring` section: how `cmtl monitor` windows the champion's new admissions and when an outcome
is watched or degraded (mtl_core/monitoring/checks.py applies these limits)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mtl_core.config.base import _Strict


class MonitoringConfig(_Strict):
    window: Literal["month", "quarter"] = Field("month", description="time window of the series, by index time")
    judge_windows: int = Field(3, ge=1, description=(
        "the verdict pools the latest this many windows that hold admissions with known outcomes"))
    min_events: int = Field(20, ge=1, description=(
        "an outcome is judged only with at least this many known positives and negatives"))
    auroc_margin: float = Field(0.0, ge=0, lt=1, description=(
        "degraded when the upper CI bound of the AUROC lies below the card's lower CI bound minus this"))
    oe_range: tuple[float, float] = Field((0.8, 1.25), description="observed / expected events outside: watch "
                                          "(point) or degraded (whole CI)")
    slope_range: tuple[float, float] = Field((0.7, 1.3), description="calibration slope outside: watch or degraded")
    alert_rate_ratio: float = Field(2.0, gt=1, description=(
        "alert rate beyond this multiple of the card's (or below the card's divided by it)"))
    sensitivity_margin: float = Field(0.1, ge=0, lt=1, description=(
        "degraded when the upper CI bound of sensitivity lies below the card's lower CI bound minus this"))
    coding_lag_days: dict[str, float] = Field({}, description=(
        "outcome -> extra days after its usual delay before its label is taken as known (e.g. coding "
        "of discharge diagnoses)"))
    as_of: str | None = Field(None, description=(
        "when the snapshot was extracted (ISO date-time); default: its latest admission or discharge time"))
    retrain_on_degraded: bool = Field(False, description="the monitor deployment runs the pipeline on 'degraded'")
    subgroup_auroc_drop: float | None = Field(0.10, gt=0, lt=1, description=(
        "watch (never degraded by itself) when a subgroup's AUROC over the judged period lies this far or more "
        "below the whole's and its upper CI bound under the whole's AUROC; null = subgroups reported only"))
    subgroup_min_known: int = Field(200, ge=1, description=(
        "a subgroup is judged only with at least this many admissions whose outcome is known ..."))
    subgroup_min_positives: int = Field(30, ge=1, description=(
        "... and at least this many known positives and as many negatives (small groups never alarm)"))

    @model_validator(mode="after")
    def _ranges(self) -> MonitoringConfig:
        for what, (lo, hi) in (("oe_range", self.oe_range), ("slope_range", self.slope_range)):
            if not 0 < lo < 1 < hi:
                raise ValueError(f"monitoring.{what} must be [low, high] with 0 < low < 1 < high, got {[lo, hi]}")
        bad = {k: v for k, v in self.coding_lag_days.items() if v < 0}
        if bad:
            raise ValueError(f"monitoring.coding_lag_days: days must not be negative, got {bad}")
        return self
