"""Source `tabular`: one flat file, one row per prediction unit; its columns are the features and labels.

Ingest keeps the id, group, feature and outcome columns (never excluded ones, which may identify
patients); the dataset builder turns them into the pipeline's features/labels frames: the id becomes
`hadm_id`, the group `subject_id`, and the split is a stable hash of the group.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_core.config import Config, TabularSource
from mtl_core.data import contracts
from mtl_core.dataset.splits import assign_splits
from mtl_core.dataset.structure import OutcomeStructure, conflicts_error
from mtl_core.errors import ConfigError, DataError, all_of
from mtl_core.sources import files

TABLE = "tabular"
RESERVED = ("hadm_id", "subject_id", "split")  # the bookkeeping columns of the features frame
_KEY_HASH = "cmtl-tabular-key"                # 16 characters, as pandas wants
# a text feature this close to one value per row would identify patients in the input example
ID_LIKE_SHARE, MIN_ROWS_FOR_ID_CHECK = 0.5, 50


@dataclass(frozen=True)
class Roles:
    id: str
    group: str
    features: list[str]
    outcomes: list[str]
    time: str | None = None  # source.time_column: kept for a temporal split, never a feature

    @property
    def columns(self) -> list[str]:
        time = [self.time] if self.time else []
        return list(dict.fromkeys([self.id, self.group, *time, *self.features, *self.outcomes]))


def _missing(src: TabularSource, outcomes: list[str], names: list[str]) -> list[str]:
    wanted = {"id_column": [src.id_column], "group_column": [src.group_column or src.id_column],
              "outcomes": outcomes, "outcome_columns": src.outcome_columns or [],
              "feature_columns": src.feature_columns or [],
              "categorical_columns": src.categorical_columns or [], "exclude_columns": src.exclude_columns,
              "time_column": [src.time_column] if src.time_column else []}
    return [f"{key} names {[c for c in cols if c not in names]}" for key, cols in wanted.items()
            if any(c not in names for c in cols)]


def resolve_roles(names: list[str], src: TabularSource, outcomes: list[str], where: str) -> Roles:
    """Which column plays which part; DataError when the config names columns the file lacks."""
    missing = _missing(src, outcomes, names)
    if missing:
        raise DataError(f"{where}: column(s) not in the file: {'; '.join(missing)} "
                        f"(the file has {len(names)} columns: {', '.join(names[:12])}"
                        f"{', ...' if len(names) > 12 else ''})")
    group = src.group_column or src.id_column
    keys = {src.id_column, group}
    if keys & set(outcomes):
        raise DataError(f"{where}: outcome column(s) {sorted(keys & set(outcomes))} are also the id/group")
    not_features = (keys | set(outcomes) | set(src.outcome_columns or []) | set(src.exclude_columns)
                    | {src.time_column})
    if src.feature_columns is not None:
        features = [c for c in src.feature_columns if c not in src.exclude_columns]
        both = sorted(set(features) & set(outcomes))
        if both:
            raise DataError(f"{where}: column(s) {both} are listed as features and as outcomes")
    else:
        features = [c for c in names if c not in not_features]
    reserved = [c for c in features if c in RESERVED]
    if reserved:
        raise DataError(f"{where}: column(s) {reserved} are reserved for the pipeline's bookkeeping "
                        f"({', '.join(RESERVED)}); rename them or list them in source.exclude_columns")
    if not features:
        raise DataError(f"{where}: no feature columns left (every column is the id, group, an outcome "
                        f"or excluded); at least one feature is needed")
    odd = sorted(set(src.categorical_columns or []) - set(features))
    if odd:
        raise DataError(f"{where}: categorical_columns {odd} are not feature columns")
    return Roles(src.id_column, group, features, list(outcomes), src.time_column)


def _file(src: TabularSource) -> Path:
    path = Path(src.path).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise ConfigError(f"source.path: tabular file {what}: {os.path.abspath(path)}")
    files.kind_of(path)
    return path


def open_partitions(cfg: Config, staging: Path, progress: Callable[[int, int], None] | None = None):
    """{'tabular': the file's id, group, feature and requested outcome columns}, in partitions of whole
    groups (mtl_core/sources/tabular_read.py); columns in the order the config lists them."""
    from mtl_core.sources import tabular_read  # (a database URL is read by tabular_db.py instead)

    path = _file(cfg.source)
    names = files.header(path)
    roles = resolve_roles(names, cfg.source, cfg.outcomes, f"table '{TABLE}' ({path.name})")
    files.check_flat(path, roles.columns)
    parts = tabular_read.open_partitions(cfg, staging, path, roles.columns)
    if progress:
        progress(1, 1)
    return parts


def snapshot_roles(df: pd.DataFrame, cfg: Config) -> Roles:
    """Roles of a stored table: everything but id, group and outcomes is a feature."""
    group = cfg.source.group_column or cfg.source.id_column
    time = cfg.source.time_column
    features = [c for c in df.columns if c not in {cfg.source.id_column, group, time, *cfg.outcomes}]
    return Roles(cfg.source.id_column, group, features, list(cfg.outcomes), time)


def categorical(df: pd.DataFrame, roles: Roles, src: TabularSource) -> list[str]:
    if src.categorical_columns is not None:
        return list(src.categorical_columns)
    return [c for c in roles.features if not pd.api.types.is_numeric_dtype(df[c])]


def int_key(s: pd.Series) -> np.ndarray:
    """Integer keys stay as they are; any other key becomes a stable positive 63-bit hash of its text."""
    if pd.api.types.is_integer_dtype(s):
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(s) and s.notna().all() and (s % 1 == 0).all():
        return s.to_numpy(dtype=np.int64)
    h = pd.util.hash_pandas_object(s.astype(str), index=False, hash_key=_KEY_HASH).to_numpy()
    return (h >> np.uint64(1)).astype(np.int64)


def _times(df: pd.DataFrame, roles: Roles) -> pd.Series | None:
    """The time column as naive timestamps (offsets converted to UTC); DataError on bad or missing ones."""
    if not roles.time:
        return None
    return files.as_time(df[roles.time], f"table '{TABLE}'", roles.time, nullable=False)


def build_dataset(tables: dict[str, pd.DataFrame], cfg: Config, definitions: dict | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, labels) straight from the validated table; outcome definitions do not apply here."""
    df = tables[TABLE].reset_index(drop=True)
    roles = snapshot_roles(df, cfg)
    cats = set(categorical(df, roles, cfg.source))
    hadm = int_key(df[roles.id])
    if len(np.unique(hadm)) != len(hadm):
        raise DataError(f"table '{TABLE}': column '{roles.id}': ids collide once turned into integer keys "
                        f"({len(hadm) - len(np.unique(hadm))} rows); use integer ids")
    features = pd.DataFrame({"hadm_id": hadm, "subject_id": int_key(df[roles.group]),
                             "split": assign_splits(df[roles.group], cfg.split, times=_times(df, roles))})
    for c in roles.features:
        features[c] = df[c].astype("str") if c in cats else df[c].astype("float64")
    labels = pd.DataFrame({"hadm_id": hadm})
    for o in roles.outcomes:
        labels[o] = df[o].astype("float64")
    return features, labels


# --- validation at ingest: each rule names the column, the rule and how many rows break it ------------

def _check_keys(df: pd.DataFrame, roles: Roles) -> None:
    for col in dict.fromkeys([roles.id, roles.group]):
        empty = int(df[col].isna().sum())
        if empty:
            raise DataError(f"table '{TABLE}': column '{col}': check not_nullable failed in "
                            f"{files.rows(empty)}")
        s = df[col]
        if pd.api.types.is_float_dtype(s) and (s % 1 != 0).any():
            # 1.1 and 1.2 are one patient once cast to an integer, 1.1 and 1.10 one once read as numbers
            bad = (s % 1 != 0).to_numpy()
            raise DataError(f"table '{TABLE}': column '{col}': check whole-number ids failed in "
                            f"{files.rows(int(bad.sum()))}{files.shapes(s[bad])}: ids read as fractional numbers "
                            "can merge patients (1.1 and 1.10 are the same number); give ids as whole numbers "
                            "or as text with a letter (e.g. P1.10)")
    dup = df[roles.id].duplicated(keep=False)
    if dup.any():
        raise DataError(f"table '{TABLE}': column '{roles.id}': check unique failed in "
                        f"{files.rows(int(dup.sum()))}")  # no example values: they identify patients


def _as_number(s: pd.Series) -> pd.Series:
    return s.astype(float) if s.dtype == bool else pd.to_numeric(s, errors="coerce")


def _check_outcome(s: pd.Series, name: str) -> None:
    where = f"table '{TABLE}': outcome column '{name}'"
    num = _as_number(s)
    bad = (s.notna() & ~num.isin([0, 1])).to_numpy()
    if bad.any():
        raise DataError(f"{where}: check isin {{0, 1, missing}} failed in {files.rows(int(bad.sum()))}"
                        f"{files.examples(s[bad])}")


def summary(tables: dict[str, pd.DataFrame], cfg: Config) -> dict:
    """Counts of one partition for the rules over the whole table: rows, labelled rows and positives per
    outcome, values per feature."""
    df = tables[TABLE]
    roles = snapshot_roles(df, cfg)
    labels = {o: _as_number(df[o]) for o in roles.outcomes}
    return {"rows": {TABLE: len(df)}, "labelled": {o: int(y.notna().sum()) for o, y in labels.items()},
            "positives": {o: int((y == 1).sum()) for o, y in labels.items()},
            "values": {c: int(df[c].notna().sum()) for c in roles.features},
            "conflicts": {a: {b: n} for a, b, n in _conflicts(labels, cfg)}}


def _conflicts(labels: dict[str, pd.Series], cfg: Config) -> list[tuple[str, str, int]]:
    """(a, b, rows) where a row's labels break a declared implication (a = 1 but b = 0)."""
    structure = OutcomeStructure.from_config(cfg)
    return structure.label_conflicts(pd.DataFrame(labels)) if structure and labels else []


def check_summary(total: dict, cfg: Config) -> None:
    """The rules that need every partition: rows at all, both classes of each outcome, values in each feature."""
    n = total["rows"][TABLE]
    if n == 0:
        raise DataError(f"table '{TABLE}' is empty (a header but no rows)")  # e.g. all quarantined
    for o, labelled in total["labelled"].items():
        where = f"table '{TABLE}': outcome column '{o}'"
        if labelled == 0:
            raise DataError(f"{where}: no labelled rows (all {n} values are missing)")
        positives = total["positives"][o]
        if positives in (0, labelled):
            raise DataError(f"{where}: only class {int(positives > 0)} in its {labelled} labelled "
                            f"rows; a model needs both 0 and 1")
    found = [(a, b, n) for a, by in total.get("conflicts", {}).items() for b, n in by.items() if n]
    if found:
        conflicts_error(found, TABLE)
    for c, values in total["values"].items():
        if values == 0:
            raise DataError(f"table '{TABLE}': feature column '{c}': no values (all {n} rows missing); "
                            f"drop it or list it in source.exclude_columns")


# dates and times as text: 2024-01-31, 2024-01-31T08:00:00Z, 31/01/2024 08:00, 1.2.24
_DATE_LIKE = (r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}/\d{1,2}/\d{1,2})"
              r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
DATE_LIKE_SHARE = 0.9  # of a column's values: a few dates among other text is text


def _check_not_dates(s: pd.Series, where: str) -> None:
    """A date read as text would become a one-hot category (one per day): meaningless as a feature and a
    near-identifier, so it is an error, with the two ways out."""
    if pd.api.types.is_datetime64_any_dtype(s):
        dated, n = int(s.notna().sum()), int(s.notna().sum())
    elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return
    else:
        values = s.dropna().astype(str)
        n = len(values)
        dated = int(values.str.match(_DATE_LIKE).sum()) if n else 0
    if n and dated >= DATE_LIKE_SHARE * n:
        raise DataError(f"{where}: holds dates or times ({dated:,} of {n:,} rows), not a feature; list "
                        f"it in source.exclude_columns, or derive features from it explicitly (e.g. a "
                        f"length of stay or an hour of day as number columns of the table)")


_GROUPED = r"^\s*[-+]?\d{1,3}(?:[,' ]\d{3})+(?:[.,]\d+)?\s*$"  # 1,234 / 1,234.5 / 1'234 / 1 234


def _check_no_thousands_separators(s: pd.Series, where: str) -> None:
    """Numbers written with thousands separators ("1,234") are read as text, so the column would become a
    category (one per value) with no word said. They are refused rather than parsed: "1,234" is 1234 in
    one locale and 1.234 in another, and guessing wrong scales a lab value by 1000."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return
    values = s.dropna().astype(str)
    grouped = values.str.match(_GROUPED)
    if grouped.any():
        raise DataError(f"{where}: numbers with a thousands separator in {files.rows(int(grouped.sum()))} "
                        f"(shapes {', '.join(repr(v) for v in sorted(set(_shape(values[grouped])))[:3])}), read "
                        "as text: export plain numbers (1234.5, a point for decimals) or list the column in "
                        "source.categorical_columns; such numbers are not parsed because '1,234' is 1234 in "
                        "one locale and 1.234 in another")


def _shape(values: pd.Series) -> list[str]:
    return list(values.str.replace(r"\d", "9", regex=True).str.strip())


def _check_feature(s: pd.Series, name: str, declared_categorical: bool, explicit: bool) -> None:
    where = f"table '{TABLE}': feature column '{name}'"
    if s.isna().all():
        return  # none in this partition: check_summary tells whether the column has values at all
    _check_not_dates(s, where)
    if pd.api.types.is_numeric_dtype(s) and not declared_categorical:
        return
    if not declared_categorical:
        _check_no_thousands_separators(s, where)
        num = pd.to_numeric(s, errors="coerce")
        text = (s.notna() & num.isna()).to_numpy()
        # a numeric column with a few stray strings would otherwise silently become a category
        if text.any() and (explicit or num.notna().sum() > text.sum()):
            raise DataError(f"{where}: wrong dtype, expected numbers, found text in "
                            f"{files.rows(int(text.sum()))}{files.examples(s[text])}; fix the values or "
                            f"list it in source.categorical_columns")
    values = s.dropna()
    if len(values) >= MIN_ROWS_FOR_ID_CHECK and values.nunique() > ID_LIKE_SHARE * len(values):
        raise DataError(f"{where}: {values.nunique()} distinct values in {len(values)} rows: an identifier "
                        f"or free text, not a category; list it in source.exclude_columns")


def _check_subgroups(df: pd.DataFrame, roles: Roles, cfg: Config) -> None:
    """Subgroup columns are features of an EHR cohort by construction; a flat table may lack them, and
    evaluation and the promotion gate would find out only after training."""
    for key, subgroups in (("evaluation.subgroups", cfg.evaluation.subgroups),
                           ("registry.subgroup_margins", list(cfg.registry.subgroup_margins))):
        for col in subgroups:
            needed = "age" if col == "age_band" else col
            if needed not in roles.features:
                raise DataError(f"{key}: '{col}' needs a feature column '{needed}', which the table does "
                                f"not have as a feature (name feature columns there, or leave it empty)")
            if col == "age_band" and not pd.api.types.is_numeric_dtype(df["age"]):
                raise DataError(f"{key}: 'age_band' needs a numeric 'age' feature column")


def validate(tables: dict[str, pd.DataFrame], cfg: Config,
             progress: Callable[[int, str], None] | None = None) -> None:
    """The flat table's rules on one partition: unique ids, 0/1 outcomes, usable features (summary and
    check_summary add those over the whole table: some rows, both classes, values in every feature)."""
    df = tables[TABLE]
    roles = snapshot_roles(df, cfg)
    declared = cfg.source.categorical_columns
    checks = [lambda: _check_keys(df, roles), lambda: _times(df, roles)]
    checks += [lambda o=o: _check_outcome(df[o], o) for o in roles.outcomes]
    checks += [lambda c=c: _check_feature(df[c], c, c in (declared or []), explicit=declared is not None)
               for c in roles.features]
    checks.append(lambda: contracts.check_finite(df[roles.features], TABLE, what="feature column"))
    checks.append(lambda: _check_subgroups(df, roles, cfg))
    all_of(checks, prefix=f"table '{TABLE}': ")
    if progress:
        progress(1, f"{TABLE}: {len(df):,} rows, {len(roles.features)} features")


def row_rejects(tables: dict[str, pd.DataFrame], cfg: Config) -> dict[str, pd.DataFrame]:
    """Quarantine mode: rows without id/group, all rows of a duplicated id, outcome values other than
    0/1, unreadable times, as (index: row position, reason); column-wide problems are left to validate."""
    df = tables[TABLE].reset_index(drop=True)
    roles = snapshot_roles(df, cfg)
    found = [(df[col].isna(), f"{col}: not_nullable") for col in dict.fromkeys([roles.id, roles.group])]
    found.append((df[roles.id].notna() & df[roles.id].duplicated(keep=False), f"{roles.id}: unique"))
    for o in roles.outcomes:
        s = df[o]
        num = s.astype(float) if s.dtype == bool else pd.to_numeric(s, errors="coerce")
        found.append((s.notna() & ~num.isin([0, 1]), f"{o}: isin {{0, 1, missing}}"))
    for a, b in cfg.outcome_structure.pairs():  # a label breaking a declared implication
        if a in roles.outcomes and b in roles.outcomes:
            found.append(((_as_number(df[a]) == 1) & (_as_number(df[b]) == 0), f"{a} = 1 but {b} = 0 (implied)"))
    if roles.time and not pd.api.types.is_numeric_dtype(df[roles.time]):
        t = pd.to_datetime(df[roles.time], errors="coerce", utc=True, format="ISO8601")
        found.append((t.isna(), f"{roles.time}: ISO 8601 timestamp"))
    parts = [pd.DataFrame({"index": np.flatnonzero(mask.to_numpy()), "reason": reason})
             for mask, reason in found if mask.any()] + contracts.finite_rejects(df[roles.features])
    return {TABLE: pd.concat(parts, ignore_index=True) if parts else
            pd.DataFrame({"index": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype=str)})}
