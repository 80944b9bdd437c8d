"""Loss-weighting strategies, one class per file; the config's `train.weighting` picks one."""
from mtl_core.weighting.base import Weighting
from mtl_core.weighting.dwa import DWAWeighting
from mtl_core.weighting.equal import EqualWeighting
from mtl_core.weighting.gradnorm import GradNormWeighting
from mtl_core.weighting.pcgrad import PCGradWeighting
from mtl_core.weighting.uncertainty import UncertaintyWeighting

WEIGHTING: dict[str, type[Weighting]] = {
    "equal": EqualWeighting,
    "uncertainty": UncertaintyWeighting,
    "gradnorm": GradNormWeighting,
    "dwa": DWAWeighting,
    "pcgrad": PCGradWeighting,
}
