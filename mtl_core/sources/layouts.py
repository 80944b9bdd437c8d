"""Every source layout in one table. A layout is the shape of the tables a source kind delivers:
"canonical" (patients, admissions, events, diagnoses: MIMIC-IV, OMOP, synthetic), "flat" (one row per
patient: the tabular source) and "meds" (MEDS events and label files). Each says how its tables are
validated (per partition and summed over all of them), which rows quarantine may set aside, how a
partition becomes (features, labels), and which outcome names it can label.

A new layout is its module under mtl_core/sources/ plus one entry in LAYOUTS."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from mtl_core.config import Config
from mtl_core.dataset.features import DatasetBuilder, build_dataset
from mtl_core.dataset.outcomes import check_outcomes as check_outcome_rules
from mtl_core.sources import canonical, meds, meds_features, tabular


def _labels_are_columns(names: list[str], definitions: dict) -> None:
    """Outcomes are the source's own label columns or files, checked when they are read."""


@dataclass(frozen=True)
class Layout:
    validate: Callable[..., None]              # (tables, config, progress); raises DataError
    summary: Callable[..., dict]               # (tables, config) -> counts of one partition
    check_summary: Callable[..., None]         # (summed counts, config): rules that need every partition
    builder: DatasetBuilder                    # one partition -> (features, labels)
    check_outcomes: Callable[[list[str], dict], None] = _labels_are_columns
    row_rejects: Callable[..., dict] | None = None  # (tables, config) -> rows quarantine may set aside


LAYOUTS: dict[str, Layout] = {
    "canonical": Layout(canonical.validate_canonical, canonical.canonical_summary, canonical.check_canonical_summary,
                        DatasetBuilder(build_dataset), check_outcome_rules, canonical.row_rejects),
    "flat": Layout(tabular.validate, tabular.summary, tabular.check_summary,
                   DatasetBuilder(tabular.build_dataset, features_contract="tabular_features"),
                   row_rejects=tabular.row_rejects),
    "meds": Layout(meds.validate, canonical.canonical_summary, canonical.check_canonical_summary,  # every
                   # shard's own checks ran while it was read
                   DatasetBuilder(meds_features.build_dataset, features_contract="meds_features",
                                  fit=lambda path, cfg: {"vocabulary": meds_features.fit_vocabulary(path, cfg)})),
}

# the same, one part at a time
VALIDATORS = {name: layout.validate for name, layout in LAYOUTS.items()}
SUMMARIES = {name: (layout.summary, layout.check_summary) for name, layout in LAYOUTS.items()}
ROW_REJECTS = {name: layout.row_rejects for name, layout in LAYOUTS.items() if layout.row_rejects}
DATASET_BUILDERS = {name: layout.builder for name, layout in LAYOUTS.items()}


def check_outcomes(names: list[str], definitions: dict, layout: str = "canonical") -> None:
    """Fail early, before any work, when a config asks for an outcome its layout cannot label."""
    LAYOUTS[layout].check_outcomes(names, definitions)


def fitted_builder(cfg: Config, fit: dict | None) -> DatasetBuilder:
    """The layout's builder with what `fit` learned from the snapshot already applied."""
    builder = LAYOUTS[cfg.source.layout].builder
    return builder if not fit else replace(builder, build=partial(builder.build, **fit), fit=None)


def dataset_builder(cfg: Config, snapshot_dir: Path | None = None) -> DatasetBuilder:
    """The layout's builder; given the snapshot, fitted to it (ready to build partitions)."""
    builder = LAYOUTS[cfg.source.layout].builder
    return builder.fitted(Path(snapshot_dir), cfg) if snapshot_dir is not None else builder
