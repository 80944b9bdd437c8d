"""Flow `compare`: what changed between two registered versions (`cmtl compare A B`), and the same report
as `comparison.md` in the run of every version that goes through the promotion gate."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import feature_set
from mtl_core.data.model_folder import ModelFolder
from mtl_core.evaluation.compare import comparison_markdown, config_differences, metric_rows
from mtl_core.evaluation.unseen import overlap_with

COMPARISON = "comparison.md"


def describe(cfg: Config, ws: Path, ref: str) -> dict:
    """A registered version as the report needs it: label, run, snapshot, rows, prevalence, code, config."""
    mv, alias = tracking.find_version(cfg, ws, ref, "compare")
    run = tracking.run_record(cfg, ws, mv.run_id)
    m, tags = run["metrics"], run["tags"]

    def by_prefix(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in m.items() if k.startswith(prefix)}

    config = yaml.safe_load(tracking.read_artifact_text(cfg, ws, mv.run_id, "config.yaml") or "{}") or {}
    return {"label": f"v{mv.version}" + (f" ({alias})" if alias else ""), "version": str(mv.version),
            "run_id": mv.run_id, "snapshot": tags.get("cmtl.lake_snapshot"),
            "code": tags.get("cmtl.code_version", "unknown (run from before code versions were logged)"),
            "trained": datetime.fromtimestamp(run["start_time"] / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "rows": by_prefix("data/rows/"),
            "prevalence": by_prefix("data/prevalence/") or by_prefix("test/prevalence/"),
            "config": config, "outcomes": config.get("outcomes") or []}


def _predict(cfg: Config, ws: Path, version: str, f) -> dict:
    model = tracking.load_model(cfg, ws, f"models:/{cfg.registry.model_name}/{version}")
    P = model.predict(f[model.metadata.get_input_schema().input_names()])
    flags = {f"{c}_flag" for c in P.columns}
    return {c: P[c].to_numpy(float) for c in P.columns if c not in flags}


def _metric_rows(cfg: Config, ws: Path, a: dict, b: dict, f, Y, outcomes: list[str]) -> tuple[list[dict], str]:
    """Both models' metrics on rows f (labels Y), or no rows and a note why."""
    e = cfg.evaluation
    try:
        pa, pb = _predict(cfg, ws, a["version"], f), _predict(cfg, ws, b["version"], f)
    except Exception as exc:  # an old champion this code cannot load: say so, report the rest
        return [], f"{a['label']} could not score {b['label']}'s test rows ({type(exc).__name__}); metrics omitted."
    shared = [o for o in outcomes if o in pa and o in pb]
    idx = [outcomes.index(o) for o in shared]
    return metric_rows(Y[:, idx], np.column_stack([pa[o] for o in shared]), np.column_stack([pb[o] for o in shared]),
                       shared, e.n_boot, cfg.train.seed, e.ci_level), ""


def report(cfg: Config, ws: Path, a: dict | None, b: dict, folder: ModelFolder | None = None
           ) -> tuple[str, list[dict]]:
    """The Markdown report and metric rows: both models scored on those of B's test rows that A was
    neither fitted nor tuned on (mtl_core/evaluation/unseen.py; paired CIs), else the data, code and config
    parts alone with a note saying why (B's feature set not in this workspace, A's split rows unknown, or
    fewer unseen rows than registry.min_comparison_rows). folder: B's model folder when it is not yet at
    its final place (the pipeline writes comparison.md before renaming it)."""
    e = cfg.evaluation
    if a is None:
        a = {"label": "none", "config": {}, "code": "n/a", "snapshot": "n/a"}
        return comparison_markdown(a, b, [], [], e.ci_level, "No previous champion: nothing to compare."), []
    rows, note = [], None
    folder = folder or ModelFolder.of_run(ws, b["run_id"])
    if not folder.exists():
        note = f"{b['label']}'s model folder is not in this workspace ({ws}): metrics not recomputed."
    else:
        meta = folder.meta()
        outcomes = [o for o in meta.outcomes if o in (a["outcomes"] or meta.outcomes)]
        f, Y, _ = feature_set.test_split(meta.features_dir, outcomes)
        overlap = overlap_with(f, ModelFolder.of_run(ws, a["run_id"]), cfg.registry.min_comparison_rows,
                               f"v{a['version']}")
        f, Y = f.loc[overlap.unseen].reset_index(drop=True), Y[overlap.unseen]
        if not overlap.comparable:
            note = f"v{b['version']}: {overlap.summary()}; metrics omitted."
        else:
            rows, note = _metric_rows(cfg, ws, a, b, f, Y, outcomes)
            if rows:
                note = (f"Both models scored on the {overlap.rows:,} of {overlap.test_rows:,} test rows of "
                        f"v{b['version']}'s feature set that neither model was fitted or tuned on "
                        f"({overlap.left_out()}; {overlap.basis}s matched).")
    diff = config_differences(a["config"], b["config"])
    return comparison_markdown(a, b, diff, rows, e.ci_level, note), rows


@task(name="Write what changed since the champion", cache_policy=NO_CACHE, **policy.TRACKING)
def log_comparison(cfg: Config, ws: Path, compared_to: str | None, version: str, run_id: str,
                   folder: ModelFolder | None = None) -> str:
    a = describe(cfg, ws, compared_to) if compared_to and compared_to != version else None
    text, _ = report(cfg, ws, a, describe(cfg, ws, version), folder)
    tracking.log_text(cfg, ws, run_id, text, COMPARISON)
    return text


@flow(name="record_comparison", log_prints=True)
def record_comparison(config_path: str, verdict: dict) -> str:
    """comparison.md in the run of a version that went through the gate: what changed since the champion
    it was judged against (`cmtl promote` composes it after register_and_promote)."""
    cfg, ws = prepare(config_path)
    return log_comparison(cfg, ws, verdict["compared_to"], verdict["version"], verdict["run_id"])


@flow(name="compare", log_prints=True)
def compare(config_path: str, a: str, b: str) -> dict:
    """Compare two registered versions (numbers or aliases) of the config's model: returns the Markdown
    report and the per-outcome rows (B - A)."""
    cfg, ws = prepare(config_path)
    va, vb = describe(cfg, ws, a), describe(cfg, ws, b)
    text, rows = report(cfg, ws, va, vb)
    return {"markdown": text, "rows": rows, "a": va["label"], "b": vb["label"]}
