"""Global explanations of the registered model, per outcome: which predictors its risk depends on, how
much (permutation importance with bootstrap intervals), in which direction, and which predictors are
shared across outcomes and which belong to one.

Importance of a predictor for an outcome is how much worse the model's log loss gets when that
predictor's values are shuffled between patients (scikit-learn's permutation importance, here on the
stacked model's own predict_proba and for all outcomes in one pass), reported as a share of the
model's own log loss on those rows: "+20%" means the model's errors grow by a fifth without the
predictor. An event item's aggregates (mean, min, max, last,
count of lactate) are shuffled together, as one predictor: they carry the same information, and
shuffling one while its siblings stay would hide it.

Only held-out rows are used: the validation split, or, when cross-fitting, each fold's model on the rows
it did not see (out-of-fold); never test rows. Intervals are percentile bootstrap intervals over those
rows with the shuffles fixed. Explanations describe the model, not causes: a predictor can drive the
risk because it marks care given to sicker patients.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mtl_core.evaluation.effects import effect_shapes
from mtl_core.evaluation.effects import representative as _representative

AGGREGATES = ("mean", "min", "max", "last", "count")
EPS = 1e-7
BATCH_ROWS = 120_000  # rows per predict call (about 70 MB for 70 number columns)


@dataclass(frozen=True)
class View:
    """A predictor of the model and the rows (positions into the train+val frame) it did not learn from."""
    predict: Callable[[pd.DataFrame], np.ndarray]
    rows: np.ndarray


def held_out_views(model, plan) -> list[View]:
    """One view per fold when the stacked model was cross-fitted (each fold's members on its held-out rows,
    the same combiners and outcome structure), else the model itself on the validation rows."""
    members = getattr(model, "members_", None)
    if plan.mode != "crossfit" or members is None or any(len(m.fits) != plan.n_fits for m in members):
        return [View(model.predict_proba, np.sort(np.concatenate(plan.held_rows)))]
    views = []
    for i, rows in enumerate(plan.held_rows):
        fold = copy.copy(model)
        fold.members_ = [replace(m, fits=[m.fits[i]], held=None) for m in members]
        fold.held_ = None
        views.append(View(fold.predict_proba, np.asarray(rows)))
    return views


def config_groups(cfg, columns: list[str]) -> dict[str, list[str]]:
    """The predictors of a config's model: an event item's aggregates (canonical layouts) as one."""
    return predictor_groups(columns, list(cfg.features.items) if cfg.source.layout == "canonical" else [])


def predictor_groups(columns: list[str], items: list[str] = ()) -> dict[str, list[str]]:
    """Predictor name -> its model columns: an event item's aggregate columns together, others alone."""
    groups: dict[str, list[str]] = {}
    owner = {f"{item}_{agg}": item for item in items for agg in AGGREGATES}
    for c in columns:
        groups.setdefault(owner.get(c, c), []).append(c)
    return groups


def _predict(views: list[View], owner: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    out: np.ndarray | None = None
    for i, view in enumerate(views):
        rows = np.flatnonzero(owner == i)
        if rows.size:
            P = view.predict(frame.iloc[rows])
            out = np.full((len(frame), P.shape[1]), np.nan) if out is None else out
            out[rows] = P
    assert out is not None
    return out


def _log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _direction(x: np.ndarray, perms: list[np.ndarray], dz: np.ndarray) -> np.ndarray:
    """Per outcome, the correlation between a predictor's change and the logit's change under shuffling:
    > 0, a higher value raises the model's risk; < 0, lowers it; near 0, no consistent direction."""
    x = np.asarray(x, dtype=float)
    dx = np.concatenate([x[p] - x for p in perms])
    ok = np.isfinite(dx) & (dx != 0)
    out = np.full(dz.shape[-1], np.nan)
    if ok.sum() < 10:
        return out
    flat = dz.reshape(-1, dz.shape[-1])[ok]
    a = dx[ok] - dx[ok].mean()
    b = flat - flat.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a @ b) / np.sqrt((a @ a) * (b * b).sum(0))
    return np.where(np.isfinite(out), out, np.nan)


def permutation_importance(views: list[View], X: pd.DataFrame, Y: np.ndarray, outcomes: list[str],
                           groups: dict[str, list[str]], repeats: int = 3, n_boot: int = 200,
                           max_rows: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Importance, interval and direction of every predictor group for every outcome (see the module doc).

    X, Y: the train+val frame and its labels (NaN = unlabelled), in the rows the views' positions index."""
    rng = np.random.default_rng(seed)
    pos = np.concatenate([v.rows for v in views])
    owner = np.concatenate([np.full(len(v.rows), i) for i, v in enumerate(views)])
    if len(pos) > max_rows:
        pick = np.sort(rng.choice(len(pos), max_rows, replace=False))
        pos, owner = pos[pick], owner[pick]
    Xs, Ys = X.iloc[pos].reset_index(drop=True), np.asarray(Y, dtype=float)[pos]
    n, K = Ys.shape
    labelled = ~np.isnan(Ys)
    y0 = np.where(labelled, Ys, 0.0)
    base = _predict(views, owner, Xs)
    base_loss = _log_loss(y0, base)
    perms = [rng.permutation(n) for _ in range(repeats)]
    order = np.concatenate(perms)
    tiled = np.tile(owner, repeats)
    names = list(groups)
    D = np.empty((len(names), n, K))
    direction = np.full((len(names), K), np.nan)
    reps = {name: _representative(Xs, groups[name]) for name in names}
    per_batch = max(1, BATCH_ROWS // (repeats * n))  # predictors shuffled per predict call: calls cost
    for start in range(0, len(names), per_batch):   # a fixed overhead each, so make them large
        batch = names[start:start + per_batch]
        frames = []
        for name in batch:
            big = pd.concat([Xs] * repeats, ignore_index=True)
            for c in groups[name]:
                big[c] = Xs[c].iloc[order].reset_index(drop=True)  # the same shuffle for the whole group
            frames.append(big)
        P_all = _predict(views, np.tile(tiled, len(batch)), pd.concat(frames, ignore_index=True))
        for j, name in enumerate(batch):
            g = start + j
            P = P_all[j * repeats * n:(j + 1) * repeats * n].reshape(repeats, n, K)
            D[g] = _log_loss(y0, P).mean(0) - base_loss
            rep = reps[name]
            if rep is not None:
                direction[g] = _direction(Xs[rep].to_numpy(dtype=float, na_value=np.nan), perms,
                                          _logit(P) - _logit(base)[None])
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float) if n_boot else np.ones((0, n))
    alpha = (1 - level) / 2
    result: dict[str, list[dict]] = {}
    for k, outcome in enumerate(outcomes):
        m = labelled[:, k].astype(float)
        Dk = np.where(labelled[:, k][None], D[:, :, k], 0.0)           # (G, n)
        lk = np.where(labelled[:, k], base_loss[:, k], 0.0)
        total = m.sum()
        point = Dk.sum(1) / max(total, 1.0)
        loss = lk.sum() / max(total, 1.0)
        Wm = W * m
        denom = np.maximum(Wm.sum(1), 1.0)
        boot = (Wm @ Dk.T) / denom[:, None]                           # (B, G)
        boot_loss = (Wm @ lk) / denom
        rows = []
        for g, name in enumerate(names):
            share = point[g] / loss if loss > 0 else None
            row = {"predictor": name, "columns": groups[name], "column": reps[name], "loss_increase": float(point[g]),
                   "share": None if share is None else float(share), "share_lo": None, "share_hi": None,
                   "lo": None, "hi": None,
                   "direction": None if np.isnan(direction[g, k]) else float(direction[g, k])}
            if n_boot:
                row["lo"], row["hi"] = (float(v) for v in np.quantile(boot[:, g], [alpha, 1 - alpha]))
                ok = boot_loss > 0
                if share is not None and ok.any():
                    ratio = boot[ok, g] / boot_loss[ok]
                    row["share_lo"], row["share_hi"] = (float(v) for v in np.quantile(ratio, [alpha, 1 - alpha]))
            rows.append(row)
        rows.sort(key=lambda r: -r["loss_increase"])
        result[outcome] = rows
    return {"rows": int(n), "repeats": repeats, "n_boot": n_boot, "level": level, "outcomes": result,
            "log_loss": {o: float(base_loss[labelled[:, k], k].mean()) if labelled[:, k].any() else None
                         for k, o in enumerate(outcomes)},
            "shared": shared_and_specific(result)}


def shared_and_specific(result: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Predictor -> the outcomes whose risk it clearly drives (interval above zero): two or more is a
    shared driver, one an outcome-specific one, none a predictor the model does not rely on."""
    out: dict[str, list[str]] = {}
    for outcome, rows in result.items():
        for r in rows:
            out.setdefault(r["predictor"], [])
            if (r["lo"] if r["lo"] is not None else r["loss_increase"]) > 0:
                out[r["predictor"]].append(outcome)
    return out


def explain(model, plan, X: pd.DataFrame, Y: np.ndarray, outcomes: list[str], settings, items: list[str] = (),
            seed: int = 0, level: float = 0.95) -> dict:
    """The explanations of a registered model from its fold plan and its train+val rows (positions as the
    plan's), with the config's `evaluation.explanations` settings; {"skipped": why} when not computed."""
    groups = predictor_groups(list(X.columns), list(items))
    if len(groups) > settings.max_predictors:
        return {"skipped": f"{len(groups)} predictors, more than evaluation.explanations.max_predictors "
                           f"({settings.max_predictors})"}
    views = held_out_views(model, plan)
    out = permutation_importance(views, X, Y, outcomes, groups, repeats=settings.repeats, n_boot=settings.n_boot,
                                 max_rows=settings.max_rows, seed=seed, level=level)
    if getattr(settings, "effects", 0):
        held = X.iloc[np.sort(np.concatenate([v.rows for v in views]))]
        out["effects"] = effect_shapes(model.predict_proba, held, outcomes, out, groups, settings.effects, seed=seed)
    return {"source": "out-of-fold" if len(views) > 1 else "validation", **out}
