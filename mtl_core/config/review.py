"""The `evaluation` and `registry` sections."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mtl_core.config.base import _Strict

MAX_BOOT = 20_000  # evaluation.n_boot
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # what MLflow, a URI and a path all hold


class OperatingPointRule(_Strict):
    """How one outcome's alert threshold is chosen on validation (mtl_core/evaluation/operating_points.py)."""
    rule: Literal["max_f1", "youden", "sensitivity", "specificity", "ppv", "alert_rate"] = "max_f1"
    target: float | None = Field(None, gt=0, le=1, description=(
        "sensitivity/specificity/ppv: the least acceptable value; alert_rate: the largest share flagged"))

    @model_validator(mode="after")
    def _target_fits_rule(self) -> OperatingPointRule:
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
    def _ordered(self) -> DecisionCurveConfig:
        if not self.start < self.stop:
            raise ValueError(f"decision_curve.start ({self.start}) must be below stop ({self.stop})")
        return self


class DriftConfig(_Strict):
    """When new data is reported as drifted from the champion's training data (mtl_core/evaluation/drift.py)."""
    psi: float = Field(0.25, gt=0, description="population stability index of a feature above this")
    missing: float = Field(0.10, gt=0, le=1, description="change in a feature's missing share above this")
    prevalence: float = Field(0.05, gt=0, le=1, description="change in an outcome's prevalence above this")


class ExplanationsConfig(_Strict):
    """Global explanations of the registered model per outcome (mtl_core/evaluation/explain.py): permutation
    importance on held-out rows (validation, or out-of-fold when cross-fitting; never test) with
    bootstrap intervals, and the direction of each predictor's effect."""
    enabled: bool = Field(True, description=(
        "compute them in `evaluate` (what they add to a run: bench/results/explain_run_cost.md)"))
    max_rows: int = Field(2000, ge=50, description="held-out rows used, a seeded sample when there are more")
    repeats: int = Field(2, ge=1, le=50, description="permutations per predictor, averaged")
    n_boot: int = Field(200, ge=0, description="bootstrap resamples of the rows for the intervals")
    max_predictors: int = Field(150, ge=1, description=(
        "predictor groups at most (an event item's aggregates are one group); above it none are computed"))
    top: int = Field(8, ge=1, description="predictors per outcome on the model card")
    effects: int = Field(4, ge=0, le=20, description=(
        "number predictors per outcome whose effect shape (partial dependence) is drawn; 0: none"))


class EvaluationConfig(_Strict):
    n_boot: int = Field(1000, ge=0, le=MAX_BOOT, description=(
        f"bootstrap resamples for CIs (0 = no CIs; at most {MAX_BOOT:,}: more moves a 95% bound by less than "
        "its own rounding and multiplies the evaluation's time)"))
    ci_level: float = Field(0.95, gt=0, lt=1)
    ece_bins: int = Field(10, gt=1)
    # feature columns to report AUROC by; "age_band" is derived from age
    subgroups: list[str] = ["gender", "age_band", "admission_type"]
    baselines: list[str] = Field(["logistic", "hist_gb", "single_task_net", "lightgbm"],
                                 description="single-task baselines fitted on the same split")
    baseline_max_rows: int | None = Field(200_000, gt=0, description=(
        "single-task learners train on at most this many rows per fit (a seeded sample of the fit's "
        "rows; the run and the model card say so); null = all rows"))
    transfer_margin: float = Field(0.0, ge=0, description="AUROC margin for the negative-transfer flag")
    operating_points: OperatingPointsConfig = OperatingPointsConfig()
    decision_curve: DecisionCurveConfig = DecisionCurveConfig()
    drift: DriftConfig = DriftConfig()
    explanations: ExplanationsConfig = ExplanationsConfig()


class RegistryConfig(_Strict):
    """The promotion gate (mtl_core/gate/promotion.py documents the rules and why)."""
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
    min_comparison_rows: int = Field(100, ge=1, description=(
        "the champion is scored only on the challenger's test rows neither model was fitted or tuned on "
        "(mtl_core/evaluation/unseen.py); with fewer such rows the two are not comparable and the "
        "challenger is not promoted"))
    subgroup_auroc_drop: float | None = Field(0.10, gt=0, le=1, description=(
        "name every subgroup (evaluation.subgroups) whose test AUROC is more than this below the whole "
        "test set's, in the verdict and the model card; null = never"))
    subgroup_sensitivity_drop: float | None = Field(0.20, gt=0, le=1, description=(
        "the same for sensitivity at the operating point (e.g. 0.00 in ages 18-44 against 0.62 overall)"))
    shortfall_min_events: int = Field(10, ge=1, description=(
        "a subgroup is checked for a shortfall with at least this many positives (and, for AUROC, "
        "negatives)"))
    shortfall_action: Literal["warn", "reject"] = Field("warn", description=(
        "warn: a shortfall is named in the verdict, the version's tags and the model card but does not "
        "block promotion; reject: it keeps the version challenger"))

    @field_validator("model_name")
    @classmethod
    def _name_fits_mlflow_and_paths(cls, v: str | None) -> str | None:
        if v is not None and not MODEL_NAME.fullmatch(v):
            raise ValueError(f"'{v}' cannot be a registered model name: use 1 to 200 letters, digits, '.', '_' "
                             "or '-', starting with a letter or digit (MLflow refuses '/' and ':', and the name "
                             "ends up in models:/ URIs and folder names)")
        return v

    @model_validator(mode="after")
    def _bounded(self) -> RegistryConfig:
        for what, values in (("auroc_floors", self.auroc_floors), ("subgroup_margins", self.subgroup_margins)):
            bad = {k: v for k, v in values.items() if not 0 <= v <= 1}
            if bad:
                raise ValueError(f"registry.{what}: values must lie in [0, 1], got {bad}")
        r = self.calibration_slope_range
        if r is not None and not 0 <= r[0] < r[1]:
            raise ValueError(f"registry.calibration_slope_range must be [low, high] with 0 <= low < high, got {r}")
        return self
