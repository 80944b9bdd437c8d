"""Flow `score`: batch predictions of a registered model version for a feature file (CSV or Parquet).

The input is checked against the model's signature and the feature contract before anything is
written. Identifier columns of the input (hadm_id, ..., a flat table's id and group columns) are copied
to the output file and go nowhere else: nothing of the input reaches MLflow.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import direct, policy
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import contracts
from mtl_core.data.meds_predictions import prediction_tables, write_tables
from mtl_core.dataset.features import ID_COLUMNS
from mtl_core.errors import CmtlError, DataError
from mtl_core.evaluation.additive import contributions
from mtl_core.evaluation.contributions import top_factors
from mtl_core.evaluation.drift import drift_report, write_drift_report
from mtl_core.evaluation.explain import config_groups
from mtl_core.sources import files
from mtl_core.sources.layouts import dataset_builder

FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
OUTPUT_FORMATS = ("table", "meds")  # one file with a column per outcome | a MEDS prediction file per outcome


def file_format(path: str, what: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise CmtlError(f"{what} file {path}: unknown format '{suffix or '(none)'}', "
                        f"use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def read_frame(path: str) -> pd.DataFrame:
    if not Path(path).is_file():
        raise CmtlError(f"input file not found: {path}")
    fmt = file_format(path, "input")
    try:
        return pd.read_csv(path) if fmt == "CSV" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - a truncated or mis-encoded input is the user's to fix
        if Path(path).suffix.lower() in files.SUFFIXES:  # the sources' messages, which quote no row
            raise files.unreadable(Path(path), exc) from None
        raise DataError(f"input file {path}: not a readable {fmt} file ({type(exc).__name__})") from None


def write_frame(frame: pd.DataFrame, path: str) -> None:
    """Write beside the target, then rename: a reader never sees half a predictions file."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    if file_format(path, "output") == "CSV":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(out)


def check_columns(frame: pd.DataFrame, schema, path: str) -> pd.DataFrame:
    """The model's input columns, in signature order; integer columns where it wants floats are widened."""
    needed = schema.input_names()
    contracts.check_model_input(frame, needed, None, "", f"input {path}")
    X = frame[needed].copy()
    for spec in schema.inputs:
        if str(spec.type) in ("DataType.double", "DataType.float") and (
                pd.api.types.is_integer_dtype(X[spec.name]) or pd.api.types.is_bool_dtype(X[spec.name])):
            X[spec.name] = X[spec.name].astype("float64")  # a CSV of whole numbers reads as int64
    return X


def check_contract(frame: pd.DataFrame, table: str, path: str) -> None:
    """The feature contract on the columns the input has: identifiers and the split are optional here
    (the same check as the served model's: mtl_core.data.contracts.check_model_input)."""
    contracts.check_model_input(frame, [], contracts.schema(table), table, f"input {path}")


def kept_columns(cfg) -> list[str]:
    """Input columns copied to the predictions, so they join back by key: a flat table's own id and group
    columns (source.id_column, group_column), then the pipeline's identifiers."""
    own = []
    if cfg.source.layout == "flat":
        own = [cfg.source.id_column, cfg.source.group_column or cfg.source.id_column]
    return list(dict.fromkeys([*own, *ID_COLUMNS]))


@task(name="Find the model version", cache_policy=NO_CACHE, **policy.TRACKING)
def resolve(cfg: Config, ws: Path, model: str) -> str:
    return str(tracking.find_version(cfg, ws, model, "--model")[0].version)


def explain_rows(cfg: Config, model, X: pd.DataFrame, outcomes: list[str], k: int) -> pd.DataFrame:
    """`<outcome>_why_1..k`: each row's top k factors per outcome in plain words (additive in the logit,
    against the model's input example; mtl_core/evaluation/additive.py)."""
    estimator = model.unwrap_python_model().estimator
    reference = tracking.input_example(model)
    groups = config_groups(cfg, list(X.columns))
    found = contributions(estimator, X, reference, groups, seed=cfg.train.seed)
    return top_factors(found, X, reference, groups, outcomes, min(k, len(groups)))


@task(name="Score the input file", cache_policy=NO_CACHE, **policy.FIT)
def score_file(cfg: Config, ws: Path, version: str, input_path: str, output_path: str,
               output_format: str = "table", explain: int = 0) -> dict:
    uri = f"models:/{cfg.registry.model_name}/{version}"  # the resolved version, even if the alias moves
    frame = read_frame(input_path)
    if frame.empty:
        raise DataError(f"input {input_path} has no rows")
    model = tracking.load_model(cfg, ws, uri)
    X = check_columns(frame, model.metadata.get_input_schema(), input_path)
    check_contract(pd.concat([frame[[c for c in ID_COLUMNS if c in frame]], X], axis=1),
                   dataset_builder(cfg).features_contract, input_path)
    P = tracking.predict(model, X, f"input {input_path}", uri)
    ids = frame[[c for c in kept_columns(cfg) if c in frame]].reset_index(drop=True)
    flags = [c for c in P.columns if str(c).endswith("_flag") and str(c)[:-5] in P.columns]
    outcomes = [c for c in P.columns if c not in flags]
    P = P.reset_index(drop=True).astype({o: "float64" for o in outcomes})  # flags stay 0/1 integers
    if output_format == "meds":  # an input column named after an outcome is its label (boolean_value)
        labels = frame[[c for c in outcomes if c in frame]].reset_index(drop=True)
        write_tables(prediction_tables(ids, P[outcomes].to_numpy(), outcomes, labels), Path(output_path))
    else:
        out = pd.concat([ids, P], axis=1)
        if explain:  # the factors stay in the output file, beside the identifiers, and go nowhere else
            out = pd.concat([out, explain_rows(cfg, model, X, outcomes, explain)], axis=1)
        out["model_version"] = int(version)
        write_frame(out, output_path)
    drift = scoring_drift(cfg, X, getattr(model.unwrap_python_model(), "drift_reference", None), output_path, version)
    return {"model_uri": uri, "model_version": version, "rows": len(ids), "outcomes": outcomes, "flags": flags,
            "output": str(Path(output_path).resolve()),
            "drift": None if drift is None else {"warn": drift["warn"], "drifted": drift["drifted"][:20],
                                                 "max_psi": drift["max_psi"]}}


@flow(name="score", log_prints=True)
def score(config_path: str, input_path: str, output_path: str, model: str = "champion",
          output_format: str = "table", explain: int = 0) -> dict:
    """Predict one probability per outcome for every row of a feature file with a registered model.

    model: an alias (champion, challenger) or a version number of the config's registered model.
    output_format: "table" (output_path is a CSV/Parquet file) or "meds" (output_path is a folder that
    gets <outcome>.parquet in the MEDS prediction schema; the input needs subject_id and prediction_time).
    explain: K > 0 adds each row's top K factors per outcome (`<outcome>_why_<i>`, table format only).
    Returns where the predictions went, how many rows and which version made them.
    """
    cfg, ws = prepare(config_path)
    if explain < 0 or (explain and output_format != "table"):
        raise CmtlError(f"--explain {explain}: a number of factors >= 1, with --format table")
    if output_format not in OUTPUT_FORMATS:
        raise CmtlError(f"--format: unknown '{output_format}' (known: {', '.join(OUTPUT_FORMATS)})")
    if output_format == "table":
        file_format(output_path, "output")  # fail before any work on an unwritable choice
    elif Path(output_path).is_file():
        raise CmtlError(f"--output {output_path}: --format meds writes a folder, and this is a file")
    if not Path(input_path).is_file():
        raise CmtlError(f"input file not found: {input_path}")
    file_format(input_path, "input")
    version = resolve(cfg, ws, model)
    result = score_file(cfg, ws, version, input_path, output_path, output_format, explain)
    get_run_logger().info("wrote %d predictions of %s to %s", result["rows"], result["model_uri"],
                          result["output"])
    return result


EVENT = "cmtl.drift.detected"  # the `pipeline/retrain-on-drift` deployment (deployment.yaml) triggers on it


def scoring_drift(cfg: Config, frame: pd.DataFrame, reference: dict | None, output_path: str,
                  version: str) -> dict | None:
    """Drift of a scoring input against the model's training data, written beside the predictions
    (`<output>.drift.md` / `.json`: aggregates only); emits the drift event when beyond thresholds."""
    if reference is None:
        return None
    d = cfg.evaluation.drift
    report = drift_report(reference, frame, None, d.psi, d.missing, d.prevalence)
    out = Path(output_path)
    write_drift_report(report, out.parent, f"{out.name}.drift", f"Drift: scoring input vs v{version}'s training data")
    if report["warn"]:
        get_run_logger().warning("Drift in %s beyond the thresholds: %s (max PSI %.3f)",
                                 f"the scoring input vs v{version}", ", ".join(report["drifted"]),
                                 report["max_psi"] or 0)
        if direct.active():  # no Prefect API, and a temporary server's automations end with the command
            get_run_logger().warning("Drift event %s not sent: no Prefect API (PREFECT_API_URL) is configured",
                                     EVENT)
            return report
        from prefect.events import emit_event

        emit_event(event=EVENT, resource={"prefect.resource.id": f"cmtl.model.{cfg.registry.model_name}",
                                          "cmtl.version": str(version)},
                   payload={"drifted": report["drifted"][:50], "max_psi": report["max_psi"]})
    return report
