"""clinical-mtl core: pure multi-task library (no prefect, no mlflow)."""
from mtl_core import legacy as _legacy

_legacy.install()  # old module paths, for models pickled by earlier releases
