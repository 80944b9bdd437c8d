"""The `model` and `train` sections."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mtl_core.config.base import _Strict

# Bounds checked before any work (a size beyond them ran for minutes, then failed on memory): these
# networks are small, so the limits sit far above any useful value.
MAX_UNITS = 4096      # units in one layer
MAX_LAYERS = 16       # trunk layers
MAX_BATCH = 65_536    # rows per training batch


class ModelConfig(_Strict):
    sharing: str = Field("hard", description="hard | soft | mmoe (mtl_core/sharing/)")
    hidden: list[Annotated[int, Field(gt=0, le=MAX_UNITS)]] = Field([128, 64], min_length=1, max_length=MAX_LAYERS,
                                                                    description=(
        f"trunk layer sizes, each in 1..{MAX_UNITS}; 1 to {MAX_LAYERS} layers"))
    head_hidden: int = Field(0, ge=0, le=MAX_UNITS, description="0 = a linear head per outcome")
    dropout: float = Field(0.1, ge=0, lt=1)
    head_dropout: float = Field(0.0, ge=0, lt=1)
    soft_lambda: float = Field(1e-3, ge=0, description="soft sharing: pull between towers")
    n_experts: int = Field(4, gt=0, le=64, description="mmoe: number of shared experts")
    sharing_args: dict[str, float | int | str | bool] = Field({}, description=(
        "further keyword arguments of the sharing class (mtl_core/sharing/), checked against its signature"))
    wide: bool = Field(True, description=(
        "a linear path per outcome beside the shared network, so per-outcome logistic regression is a "
        "special case of the model"))
    numeric_encoding: Literal["ple", "standard"] = Field("ple", description=(
        "ple: each number also enters as its piecewise-linear position in 8 quantile bins, so the "
        "network bends a risk curve per feature as a tree would (mtl_core/network/encoding.py); standard: one "
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
        "predictions; the configured network is always trial 1; 0 or 1 = no search (mtl_core/ensemble/search.py)"))
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
    epochs: int = Field(60, gt=0, le=10_000)
    batch_size: int = Field(256, gt=0, le=MAX_BATCH)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(8, gt=0)
    seed: int = 0
    weighting: str = Field("equal", description="equal | uncertainty | gradnorm | dwa | pcgrad")
    mode: str = Field("joint", description="joint | alternating")
    weighting_args: dict[str, float | int | str | bool] = Field({}, description=(
        "keyword arguments of the weighting class (mtl_core/weighting/), e.g. {temperature: 2.0} for dwa "
        "or {alpha: 1.5} for gradnorm; checked against its signature"))
    pos_weight: Literal["none", "auto"] = "none"
    loss_reduction: Literal["batch", "outcome"] = Field("batch", description=(
        "batch: every observed label weighs the same, so an outcome with few labels sways the shared "
        "layers little; outcome: every outcome weighs the same however few labels it has"))
    calibration: str = Field("platt", description="none | temperature | platt (fitted on val)")
    outcome_overrides: dict[str, OutcomeOverride] = {}
    threads: int = Field(1, ge=1, description=(
        "torch threads while training; these networks are small, and extra threads spin when the "
        "cores are busy (mtl_core/network/train.py)"))
