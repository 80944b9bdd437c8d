"""Source adapters: each turns some raw input into the canonical tables, chosen by `source.kind`."""
from __future__ import annotations

from typing import Callable

import pandas as pd

from mtl_core.config import Config
from mtl_core.sources import synthetic

RAW_TABLES = ("patients", "admissions", "events", "diagnoses")

# kind -> loader(config, progress) -> {table name: frame}; may add "truth" (never a feature)
SOURCES: dict[str, Callable[..., dict[str, pd.DataFrame]]] = {
    "synthetic": lambda cfg, progress=None: synthetic.generate(
        cfg.source, cfg.cohort.observation_hours, progress),
}


def load_source(cfg: Config, progress=None) -> dict[str, pd.DataFrame]:
    return SOURCES[cfg.source.kind](cfg, progress)
