"""Masked multi-task losses: a missing label contributes neither loss nor gradient."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
               pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-outcome mean binary cross-entropy over labelled rows only; shape (n_outcomes,).

    Targets at masked positions may hold anything (NaN included): they are replaced before the loss,
    and an outcome with no labelled row in the batch gets exactly zero. `pos_weight` (n_outcomes,)
    up-weights positives per outcome for class imbalance.
    """
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    raw = F.binary_cross_entropy_with_logits(logits, safe, reduction="none", pos_weight=pos_weight)
    return (raw * mask).sum(0) / mask.sum(0).clamp(min=1)
