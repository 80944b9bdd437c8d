"""Load the pandera YAML contracts in data_contracts/ and validate tables against them.

A violation raises DataError naming the table, column, check and how many rows fail, so a data engineer
can fix the export without reading a traceback.
"""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml
from pandera import extensions
from pandera.engines import pandas_engine

from mtl_core.errors import DataError

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "data_contracts"


@extensions.register_check_method(statistics=["earlier", "later"], supported_types=pd.DataFrame)
def ordered(df: pd.DataFrame, *, earlier: str, later: str) -> pd.Series:
    """Row-wise: `later` is not before `earlier` (missing values pass; nullability is checked apart)."""
    return df[later].isna() | df[earlier].isna() | (df[later] >= df[earlier])


@extensions.register_check_method(statistics=["earlier", "later"], supported_types=pd.DataFrame)
def died_after_admission(df: pd.DataFrame, *, earlier: str, later: str) -> pd.Series:
    """Row-wise: a death (`later`) is not before the admission (`earlier`): a clinical-order impossibility
    that would make a death an outcome of an admission that began after it (missing values pass)."""
    return ordered(df, earlier=earlier, later=later)


_TABLE_CHECKS = {"ordered": ordered, "died_after_admission": died_after_admission}


@cache
def schema(table: str, contracts_dir: Path = CONTRACTS_DIR) -> pa.DataFrameSchema:
    path = contracts_dir / f"{table}.yaml"
    if not path.is_file():
        raise DataError(f"no contract for table '{table}' (expected {path})")
    return pa.DataFrameSchema.from_yaml(path)


def outcome_definitions(contracts_dir: Path = CONTRACTS_DIR, kind: str | None = None) -> dict[str, dict]:
    """outcomes.yaml (every canonical source), updated by outcomes_<kind>.yaml of the source kind, if any:
    a kind adds outcomes of its own there, and redefines a common one by reusing its name."""
    definitions = yaml.safe_load((contracts_dir / "outcomes.yaml").read_text()) or {}
    own = contracts_dir / f"outcomes_{kind}.yaml"
    if kind and own.is_file():
        definitions.update(yaml.safe_load(own.read_text()) or {})
    return definitions


def _summary(table: str, cases: pd.DataFrame) -> str:
    lines = []
    for (context, column, check), group in cases.groupby(
            ["schema_context", "column", "check"], sort=False, dropna=False):
        check = str(check)
        if check.startswith("column_in_dataframe"):
            lines.append(f"  - column '{group['failure_case'].iloc[0]}' is missing")
        elif check.startswith("dtype("):
            found = ", ".join(sorted({str(x) for x in group["failure_case"]}))
            expected = check[len("dtype("):-1].strip("'")
            lines.append(f"  - column '{column}': wrong dtype, expected {expected}, found {found}")
        elif context == "Column":
            lines.append(f"  - column '{column}': check {check} failed in {_rows(group)}")
    # table-level checks are reported by pandera once per column involved: count rows once per check
    table_level = cases[cases["schema_context"] != "Column"]
    for check, group in table_level.groupby("check", sort=False):
        lines.append(f"  - table: check {check!s} failed in {_rows(group)}")
    return f"table '{table}' breaks its contract (data_contracts/{table}.yaml):\n" + "\n".join(lines)


def _rows(group: pd.DataFrame) -> str:
    idx = group["index"].dropna()
    return _n_rows(idx.nunique() if len(idx) else len(group))


def _n_rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


# check name -> vectorised test of a column's non-missing values (pandera skips missing ones too)
_ELEMENT_CHECKS = {
    "isin": lambda s, allowed_values: s.isin(allowed_values),
    "greater_than_or_equal_to": lambda s, min_value: s >= min_value,
    "in_range": lambda s, min_value, max_value, include_min=True, include_max=True: (
        (s >= min_value if include_min else s > min_value) & (s <= max_value if include_max else s < max_value)),
}


def _columns_ok(schema: pa.DataFrameSchema, df: pd.DataFrame) -> bool | None:
    for name, col in schema.columns.items():
        names = [c for c in df.columns if re.fullmatch(name, str(c))] if col.regex else [name]
        for c in names:
            if c not in df:
                if col.required:
                    return False
                continue
            s = df[c]
            if col.dtype is not None and not col.dtype.check(pandas_engine.Engine.dtype(s.dtype)):
                return False
            missing = s.isna()
            if not col.nullable and missing.any():
                return False
            if col.unique and s.duplicated().any():
                return False
            given = s[~missing] if missing.any() else s
            for check in col.checks:
                if check.name not in _ELEMENT_CHECKS:
                    return None
                if not _ELEMENT_CHECKS[check.name](given, **check.statistics).all():
                    return False
    return True


def _passes(schema: pa.DataFrameSchema, df: pd.DataFrame) -> bool:
    """True when df surely meets the schema, by vectorised column expressions (a few ms per million
    rows); False when it may not, or uses a check this does not know: pandera then says what is wrong."""
    if schema.coerce or schema.strict or any(c.coerce for c in schema.columns.values()):
        return False
    if not _columns_ok(schema, df):
        return False
    for check in schema.checks:  # table-level checks: registered custom checks, e.g. `ordered`
        fn = _TABLE_CHECKS.get(check.name)
        if fn is None or not fn(df, **check.statistics).all():
            return False
    return True


# Beyond any measurement in a health record; 1e308 passes float64 but overflows the float32 model inputs
# (and the squares of standardisation far earlier), crashing training with no word about the input.
MAX_MAGNITUDE = 1e12
FINITE_RULE = f"finite (no +-inf, |value| <= {MAX_MAGNITUDE:.0e})"


def _not_finite(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """{column: row mask} of float columns holding +-inf or an absurd magnitude (missing values pass)."""
    bad = {}
    for c in df.columns:
        if pd.api.types.is_float_dtype(df[c].dtype):
            v = df[c].to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                mask = np.abs(v) > MAX_MAGNITUDE  # inf included, NaN not
            if mask.any():
                bad[str(c)] = mask
    return bad


def _finite_lines(df: pd.DataFrame) -> list[str]:
    return [f"  - column '{c}': check {FINITE_RULE} failed in {_n_rows(int(m.sum()))}"
            for c, m in _not_finite(df).items()]


def check_finite(df: pd.DataFrame, table: str, what: str = "column") -> None:
    """DataError naming every float column of df with +-inf or an absurd magnitude, with row counts."""
    bad = _not_finite(df)
    if bad:
        raise DataError(f"table '{table}': " + "; ".join(
            f"{what} '{c}': check {FINITE_RULE} failed in {_n_rows(int(m.sum()))}" for c, m in bad.items()))


def finite_rejects(df: pd.DataFrame) -> list[pd.DataFrame]:
    """Quarantine: (index: row position, reason) frames of rows breaking the finite rule."""
    return [pd.DataFrame({"index": np.flatnonzero(m).astype("int64"), "reason": f"{c}: finite"})
            for c, m in _not_finite(df).items()]


def _header(table: str) -> str:
    return f"table '{table}' breaks its contract (data_contracts/{table}.yaml):\n"


def validate(df: pd.DataFrame, table: str, allow_empty: bool = False) -> pd.DataFrame:
    """Return df if it meets the contract of `table`, else raise DataError listing every violation.
    allow_empty: the frame is one partition of a table (that some partition has rows is checked apart).

    The contract is checked by vectorised column expressions first (_passes); only a frame that fails
    them goes through pandera, whose report names every failing column, check and row count."""
    if df.empty and not allow_empty:
        raise DataError(f"table '{table}' is empty")
    finite = _finite_lines(df)  # every rule's failures in one message
    if _passes(schema(table), df):
        if finite:
            raise DataError(_header(table) + "\n".join(finite))
        return df
    try:
        # a fresh index, so failing rows are counted once even when the input's index repeats
        out = schema(table).validate(df.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataError("\n".join([_summary(table, exc.failure_cases), *finite])) from None
    if finite:
        raise DataError(_header(table) + "\n".join(finite))
    return out


def _contract_floats(frame: pd.DataFrame, contract: pa.DataFrameSchema) -> pd.DataFrame:
    """Numbers cast to the float type the contract names (a float64 file for float32 features is the
    same data; the model casts anyway); text in a number column is left for the contract to report."""
    out = frame.reset_index(drop=True)
    casts = {}
    for name, col in contract.columns.items():
        dtype = str(col.dtype) if col.dtype is not None else ""
        if not dtype.startswith("float"):
            continue
        names = [c for c in out.columns if re.fullmatch(name, str(c))] if col.regex else [name] * (name in out)
        casts.update({c: dtype for c in names if pd.api.types.is_numeric_dtype(out[c])
                      and not pd.api.types.is_bool_dtype(out[c]) and str(out[c].dtype) != dtype})
    return out.astype(casts) if casts else out


def check_model_input(frame: pd.DataFrame, needed: list[str], contract: pa.DataFrameSchema | None,
                      table: str, where: str = "input") -> None:
    """The one rule for scoring (`cmtl score` and the served pyfunc): every column the model needs, and
    the feature contract on the columns present (identifiers optional). DataError naming columns, checks
    and row counts, never a value of the input: messages of a served model reach clients' logs."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise DataError(f"{where}: {len(missing)} column{'s' * (len(missing) != 1)} the model needs "
                        f"{'are' if len(missing) != 1 else 'is'} missing: {shown}")
    if contract is None:
        return
    absent = [n for n, col in contract.columns.items() if not col.regex and n not in frame.columns]
    patterns = {n: {"required": False} for n, col in contract.columns.items() if col.regex}
    try:
        contract.remove_columns(absent).update_columns(patterns).validate(_contract_floats(frame, contract), lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataError(f"{where}: " + _summary(table, exc.failure_cases)) from None


def row_failures(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Row-level violations of `table`'s contract as (index: row position, reason: 'column: check');
    DataError when the table as a whole breaks it (empty, a missing column, a wrong dtype), which no
    removal of rows can mend. An empty frame (a partition without rows of this table) has none."""
    finite = finite_rejects(df)
    try:
        schema(table).validate(df.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        empty = pd.DataFrame({"index": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype=str)})
        return pd.concat([empty, *finite], ignore_index=True)
    whole = cases["index"].isna() | cases["check"].astype(str).str.startswith("coerce_dtype")
    if whole.any():
        raise DataError(_summary(table, cases[whole]) + "\n(a table-wide defect: quarantine cannot set "
                        "rows aside for it)")
    column = cases["column"].astype(str).where(cases["schema_context"] == "Column", "table")
    out = pd.DataFrame({"index": cases["index"].astype("int64"),
                        "reason": column + ": " + cases["check"].astype(str)})
    out = pd.concat([out, *finite], ignore_index=True)
    return out.drop_duplicates(ignore_index=True)  # a table-level check is reported once per column


def check_references(tables: dict[str, pd.DataFrame]) -> None:
    """Cross-table integrity: every admission has a patient, every event/diagnosis an admission."""
    problems = []
    known_subjects = tables["patients"]["subject_id"]
    bad = ~tables["admissions"]["subject_id"].isin(known_subjects)
    if bad.any():
        problems.append(f"table 'admissions': column 'subject_id' references unknown patients "
                        f"in {_n_rows(int(bad.sum()))}")
    known_hadm = tables["admissions"]["hadm_id"]
    for name in ("events", "diagnoses"):
        if name in tables:
            bad = ~tables[name]["hadm_id"].isin(known_hadm)
            if bad.any():
                problems.append(f"table '{name}': column 'hadm_id' references unknown admissions "
                                f"in {_n_rows(int(bad.sum()))}")
    if problems:
        raise DataError("referential integrity broken:\n  - " + "\n  - ".join(problems))
