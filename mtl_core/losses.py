"""Masked multi-task losses: a missing label contributes neither loss nor gradient."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-outcome mean binary cross-entropy over labelled rows only; shape (n_outcomes,).

    Targets at masked positions may hold anything (NaN included): they are replaced before the loss,
    and an outcome with no labelled row in the batch gets exactly zero.
    """
    safe = torch.where(mask, targets, torch.zeros_like(targets))
    raw = F.binary_cross_entropy_with_logits(logits, safe, reduction="none") * mask
    return raw.sum(0) / mask.sum(0).clamp(min=1)
