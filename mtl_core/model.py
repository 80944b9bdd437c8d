"""Multi-task networks: the registry of sharing schemes (see mtl_core/sharing/); `hard` is the default."""
from mtl_core.sharing import SHARING, HardSharedMTL, MMoE, MultiTaskNet, SoftSharedMTL
from mtl_core.sharing.base import mlp

__all__ = ["SHARING", "HardSharedMTL", "MMoE", "MultiTaskNet", "SoftSharedMTL", "mlp"]
