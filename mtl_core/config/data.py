"""The `cohort`, `features`, `split`, `ingest` and `engine` sections."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mtl_core.config.base import _Strict


class CohortConfig(_Strict):
    observation_hours: int = Field(24, gt=0, description="index time = admittime + this")
    min_age: int = Field(18, ge=0)


class FeatureConfig(_Strict):
    # name -> itemid of labs/vitals aggregated over [admittime, index time)
    items: dict[str, int]
    aggregates: list[Literal["mean", "min", "max", "last", "count"]] = ["mean", "min", "max", "last", "count"]
    # name -> ICD code prefixes (ICD-9 and ICD-10 together); flagged from prior admissions only
    prior_diagnoses: dict[str, list[str]] = {}


class SplitConfig(_Strict):
    """`by: patient` (default): a seeded hash of the patient key with these fractions. `by: temporal`:
    admissions from `test_from` on are test, [val_from, test_from) val, earlier train (fractions and
    seed unused); mtl_core/dataset/splits.py says why a patient may then have admissions in several splits."""
    by: Literal["patient", "temporal"] = "patient"
    train: float = Field(0.70, gt=0, lt=1)
    val: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    seed: int = 11
    val_from: datetime | None = Field(None, description="temporal: first admission time of validation")
    test_from: datetime | None = Field(None, description="temporal: first admission time of test")

    @field_validator("val_from", "test_from")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        # stored times are naive (offsets converted to UTC at ingest); compare like with like
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError("split fractions train + val + test must sum to 1")
        if self.by == "temporal":
            if self.val_from is None or self.test_from is None:
                raise ValueError("split.by temporal needs both val_from and test_from (dates)")
            if not self.val_from < self.test_from:
                raise ValueError(f"split.val_from ({self.val_from}) must be before split.test_from "
                                 f"({self.test_from})")
        elif self.val_from is not None or self.test_from is not None:
            raise ValueError("split.val_from/test_from only apply with split.by: temporal")
        return self


class IngestConfig(_Strict):
    """`strict`: any contract violation stops ingest. `quarantine`: rows breaking a row-level rule go to
    the snapshot's quarantine/ with a reason; the run stops if a table loses more than the share."""
    mode: Literal["strict", "quarantine"] = "strict"
    max_rejected_share: float = Field(0.01, ge=0, le=1, description="per table, quarantine mode only")
    partition_rows: int = Field(5_000_000, ge=1_000, description=(
        "rows (all tables together) per partition of whole patients when a file source is read: peak "
        "memory of ingest and features follows it (about 0.4 GiB per million rows). The synthetic "
        "source is generated in partitions of 25,000 patients whatever this says"))


class EngineConfig(_Strict):
    """Where per-partition work (validation, staging, features) runs. `local`: one partition at a time
    in the flow's process. `dask`: Prefect tasks on a Dask cluster through prefect-dask, at `address`
    (tcp://host:8786), or on a local cluster of `n_workers` processes (default: one per core). The
    outputs are the same either way; only where and how fast differs."""
    kind: Literal["local", "dask"] = "local"
    address: str | None = Field(None, description="dask: scheduler address; none = a local cluster")
    n_workers: int | None = Field(None, gt=0, description="dask without address: workers (default: cores)")

    @model_validator(mode="after")
    def _dask_only(self) -> EngineConfig:
        if self.kind == "local" and (self.address or self.n_workers):
            raise ValueError("engine.address and engine.n_workers apply to engine.kind dask only")
        if self.address and self.n_workers:
            raise ValueError("engine.n_workers sizes a local cluster; with engine.address the cluster "
                             "has the workers it has")
        return self
