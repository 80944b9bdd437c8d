"""Masked multi-task losses: a missing label contributes neither loss nor gradient."""
from __future__ import annotations

import torch
import torch.nn.functional as F

# How an outcome's summed loss over its labelled rows is scaled:
# "batch": divided by the batch size, so every observed label weighs the same and an outcome sways the
#   shared layers in proportion to how many labels it has (the likelihood of the labels observed);
# "outcome": divided by the outcome's own labelled rows, so every outcome weighs the same however few
#   labels it has. With 5% of one outcome labelled that gives each of its labels ~20x the weight of any
#   other: the trunk overfits that outcome within a few epochs and early stopping cuts the others short
#   (bench/results/data_efficiency.md).
REDUCTIONS = ("batch", "outcome")


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None, *, reduction: str) -> torch.Tensor:
    """Per-outcome binary cross-entropy over labelled rows only; shape (n_outcomes,).

    Targets at masked positions may hold anything (NaN included): they are replaced before the loss,
    and an outcome with no labelled row in the batch gets exactly zero. `pos_weight` (n_outcomes,)
    up-weights positives per outcome for class imbalance. `reduction` (see REDUCTIONS): "outcome" =
    mean over the outcome's labelled rows, "batch" = sum over them / number of rows in the batch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    raw = F.binary_cross_entropy_with_logits(logits, safe, reduction="none", pos_weight=pos_weight)
    total = (raw * mask).sum(0)
    return total / max(mask.shape[0], 1) if reduction == "batch" else total / mask.sum(0).clamp(min=1)
