"""Sharing schemes, one class per file; the config's `model.sharing` picks one from SHARING."""
from mtl_core.sharing.base import MultiTaskNet
from mtl_core.sharing.hard import HardSharedMTL
from mtl_core.sharing.mmoe import MMoE
from mtl_core.sharing.soft import SoftSharedMTL
from mtl_core.sharing.wide import WideAndDeep

__all__ = ["SHARING", "HardSharedMTL", "MMoE", "MultiTaskNet", "SoftSharedMTL", "WideAndDeep"]

SHARING: dict[str, type[MultiTaskNet]] = {
    "hard": HardSharedMTL,
    "soft": SoftSharedMTL,
    "mmoe": MMoE,
}
