"""Judge a stacking rule on every cohort-seed of bench.peers without refitting a member.

    .venv/bin/python -m bench.restack

bench.peers keeps, per cohort and seed (and bench.meds_tab per generator seed of its MEDS cohort), each member's out-of-fold probabilities on the train+val rows,
its test probabilities and the labels (bench/.cache/peers/). Here each rule learns its per-outcome
combination from the out-of-fold rows only, exactly as mtl_core's stack() does, and is scored on the
test rows; across all cohorts that says whether a rule trails its own best member, without tuning it
on any one cohort's test rows. Rules: `stack` (mtl_core.ensemble.stacking.fit_combiner with the network
as core, the registered model since a pull toward it won here), `ridge` (the stack before it: a ridge
toward zero), `guarded` (fit_guarded below: the ridge stack, or one member alone when that wins out of
fold), `core_<lam>` (pulled toward the network alone, lam per held-out row), `core_total_<lam>` (lam
in all: `stack` is core_total_10), `core_cv` (the pull's strength chosen per outcome by cross-validated
log-likelihood on the held-out rows), and rules that pool an outcome's weights with its cohort's other
outcomes (`pooled`: one set of weights for all outcomes, Platt-scaled per outcome; `mean`: equal
weights; `shrink_<lam>`: per outcome, pulled toward the pooled weights).
Result: bench/results/restack.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from bench.common import write
from bench.peers import MEMBERS
from mtl_core.ensemble.stacking import RIDGE, Combiner, _objective, fit_combiner, logit
from mtl_core.evaluation.metrics import auroc

SEEDS = (1, 2, 3)
SELECT_FOLDS = 5  # folds of the held-out rows over which the stack and each member alone are compared


def _cv_logits(Z: np.ndarray, y: np.ndarray, folds: np.ndarray, cols: list[int],
               fit=fit_combiner) -> np.ndarray:
    """Out-of-fold combined logit of the columns `cols`: each fold's rows scored by a combiner fitted
    (by `fit(Z, y)`) on the other folds, so no candidate is judged on rows it learned from."""
    out = np.full(len(y), np.nan)
    for f in np.unique(folds):
        test = folds == f
        c = fit(Z[~test][:, cols], y[~test])
        out[test] = c.bias + c.scale * (Z[test][:, cols] @ np.asarray(c.weights))
    return out


def selection_folds(n: int, folds: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """The plan's folds when it has several, else SELECT_FOLDS seeded folds of the rows."""
    if folds is not None and len(np.unique(folds)) > 1:
        return np.asarray(folds)
    return np.random.default_rng(seed).permutation(n) % SELECT_FOLDS


def _one_class_left(y: np.ndarray, folds: np.ndarray) -> bool:
    """Whether leaving out some fold leaves rows of one class only (nothing to fit a combiner on)."""
    return any(np.unique(y[folds != f]).size < 2 for f in np.unique(folds))


def guard_choice(Z: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[int | None, list[float]]:
    """(None for the stack, or the column of the member alone; the out-of-fold AUROC of the stack and of
    each member alone) on labelled rows Z, y split by `folds`. Ties go to the stack."""
    candidates = [list(range(Z.shape[1]))] + [[j] for j in range(Z.shape[1])]
    scores = [auroc(y, _cv_logits(Z, y, folds, cols)) or 0.0 for cols in candidates]
    best = int(np.argmax(scores))  # the first maximum: the stack on a tie
    return (None if best == 0 else best - 1), scores


def fit_guarded(Z: np.ndarray, y: np.ndarray, folds: np.ndarray | None = None, fallback: int = 0) -> Combiner:
    """The stack, or one member alone (Platt-scaled), whichever scores the higher out-of-fold AUROC on
    the held-out rows: a discrete super learner over {stack, each member}.

    The weights are learned on the same held-out rows as before; the choice between the stack and a
    single member is itself cross-validated, so the stack cannot trail its best member out of fold
    because its weights fitted noise, and is kept wherever it helps.
    """
    Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
    keep = ~np.isnan(y)
    Zk, yk = Z[keep], y[keep]
    folds = selection_folds(len(yk), None if folds is None else np.asarray(folds)[keep])
    m = Z.shape[1]
    # one member, one class, or a fold without both classes: nothing to choose between out of fold
    if m < 2 or _one_class_left(yk, folds):
        return fit_combiner(Z, y, fallback=fallback)
    j, _ = guard_choice(Zk, yk, folds)
    if j is None:
        return fit_combiner(Z, y, fallback=fallback)
    alone = fit_combiner(Z[:, [j]], y)
    return Combiner(tuple(1.0 if i == j else 0.0 for i in range(m)), alone.scale, alone.bias)


RULES = {"stack": lambda Z, y, folds: fit_combiner(Z, y, fallback=0, core=0),
         "ridge": lambda Z, y, folds: fit_combiner(Z, y, fallback=0),
         "guarded": lambda Z, y, folds: fit_guarded(Z, y, folds, fallback=0)}
CORE = (0.003, 0.01, 0.03, 0.1)      # pull per held-out row: as strong against the data at any size
CORE_TOTAL = (3.0, 10.0, 30.0, 100.0)  # pull in all: the held-out rows of a large cohort outweigh it


def fit_toward_core(Z: np.ndarray, y: np.ndarray, lam: float, per_row: bool = True) -> Combiner:
    """The stack pulled toward the multi-task network alone (column 0, at its own Platt scale): a prior
    that the shared model, the core of the stack, carries the outcome unless the held-out rows say
    otherwise. `lam` is the pull per labelled row (per_row) or in all."""
    keep = ~np.isnan(y)
    if Z.shape[1] < 2 or not keep.any() or np.unique(y[keep]).size < 2:
        return fit_combiner(Z, y, fallback=0)
    target = np.zeros(Z.shape[1])
    target[0] = fit_combiner(Z[:, :1], y).scale
    return _fit_toward(Z, y, target, lam if per_row else lam / int(keep.sum()))


RULES.update({f"core_{lam:g}": (lambda Z, y, folds, _lam=lam: fit_toward_core(Z, y, _lam)) for lam in CORE})
RULES.update({f"core_total_{lam:g}": (lambda Z, y, folds, _lam=lam: fit_toward_core(Z, y, _lam, per_row=False))
              for lam in CORE_TOTAL})


PULL_CHOICES = (None, 3.0, 10.0, 30.0, 100.0)  # None: the ridge toward zero


def _pull_fit(Z: np.ndarray, y: np.ndarray, lam: float | None) -> Combiner:
    return fit_combiner(Z, y, fallback=0) if lam is None else fit_toward_core(Z, y, lam, per_row=False)


def fit_core_cv(Z: np.ndarray, y: np.ndarray, folds: np.ndarray | None) -> Combiner:
    """The pull toward the network with its strength chosen per outcome by cross-validated log-likelihood
    on the held-out rows (the plan's folds), among PULL_CHOICES."""
    keep = ~np.isnan(y)
    Zk, yk = Z[keep], y[keep]
    f = selection_folds(len(yk), None if folds is None else np.asarray(folds)[keep])
    if Z.shape[1] < 2 or _one_class_left(yk, f):
        return _pull_fit(Z, y, 10.0)
    every = list(range(Z.shape[1]))
    losses = []
    for lam in PULL_CHOICES:
        s = _cv_logits(Zk, yk, f, every, fit=lambda Zf, yf, _lam=lam: _pull_fit(Zf, yf, _lam))
        losses.append(float(np.sum(np.logaddexp(0, s) - yk * s)))  # out-of-fold negative log-likelihood
    return _pull_fit(Z, y, PULL_CHOICES[int(np.argmin(losses))])


RULES["core_cv"] = fit_core_cv

SHRINK = (0.003, 0.01, 0.03, 0.1)
FILE_RULES = ["pooled", "mean", *(f"shrink_{lam:g}" for lam in SHRINK)]


def _fit_toward(Z: np.ndarray, y: np.ndarray, target: np.ndarray, lam: float) -> Combiner:
    """fit_combiner's log-likelihood combiner with the ridge (lam per labelled row) pulling c toward
    `target` (not 0), through mtl_core's own objective."""
    keep = ~np.isnan(y)
    Z, y = Z[keep], y[keep]
    if y.size == 0 or y.min() == y.max():
        return fit_combiner(Z, y)  # its fallback: member 0 alone
    prior = float(np.log(y.mean() / (1 - y.mean())))
    res = minimize(_objective, np.append(target, prior), args=(Z, y, lam * y.size, target), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * Z.shape[1] + [(None, None)])
    c = res.x[:-1]
    total = float(c.sum())
    if total <= 1e-9:
        return Combiner(tuple(1.0 if i == 0 else 0.0 for i in range(Z.shape[1])), 1.0, 0.0)  # fit_combiner's fallback
    return Combiner(tuple(float(v) for v in c / total), total, float(res.x[-1]))


def pooled_weights(Zs: list[np.ndarray], ys: list[np.ndarray]) -> np.ndarray:
    """Shared non-negative coefficients over members for all outcomes, one bias per outcome: the
    log-likelihood combiner fitted on every outcome's held-out rows at once (a member's unusable
    outcome enters as logit 0). Returned normalised to sum 1."""
    m = Zs[0].shape[1]
    data = [(Z[~np.isnan(y)], y[~np.isnan(y)]) for Z, y in zip(Zs, ys)]
    data = [(Z, y) for Z, y in data if y.size and y.min() != y.max()]
    if not data:
        return np.full(m, 1.0 / m)
    ridge = RIDGE * sum(y.size for _, y in data)

    def f(theta):
        c, grad = theta[:m], np.zeros(len(theta))
        loss = ridge * np.sum(c ** 2)
        grad[:m] = 2 * ridge * c
        for k, (Z, y) in enumerate(data):  # each outcome's log-likelihood, unpenalised, with its own bias
            part, g = _objective(np.append(c, theta[m + k]), Z, y, 0.0)
            loss += part
            grad[:m] += g[:-1]
            grad[m + k] = g[-1]
        return loss, grad

    start = np.concatenate([np.full(m, 1.0 / m), [np.log(y.mean() / (1 - y.mean())) for _, y in data]])
    res = minimize(f, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * m + [(None, None)] * len(data))
    c = res.x[:m]
    return c / c.sum() if c.sum() > 1e-9 else np.full(m, 1.0 / m)


def _platt(Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> Combiner:
    one = fit_combiner((Z @ w)[:, None], y)
    return Combiner(tuple(float(v) for v in w), one.scale, one.bias)


def pooled_rules(Zs: list[np.ndarray], ys: list[np.ndarray]) -> dict[str, list[Combiner]]:
    """File-level rules (they see every outcome of a cohort-seed): `pooled` (shared weights, Platt per
    outcome), `mean` (equal weights over the outcome's usable members, Platt), `shrink_<lam>`
    (per-outcome fit pulled toward the pooled weights at that outcome's own scale)."""
    w = pooled_weights(Zs, ys)
    out: dict[str, list[Combiner]] = {"pooled": [], "mean": []}
    for Z, y in zip(Zs, ys):
        usable = (Z != 0).any(axis=0)
        out["pooled"].append(_platt(Z, y, w))
        out["mean"].append(_platt(Z, y, usable / max(1, usable.sum())))
    for lam in SHRINK:
        out[f"shrink_{lam:g}"] = [_fit_toward(Z, y, w * c.scale, lam) for Z, y, c in zip(Zs, ys, out["pooled"])]
    return out


def _every(d, kinds: list[str], usable: list[str], part: str, rows: np.ndarray, k: int) -> np.ndarray:
    """Outcome k's logits of every member on `rows` of `part` (held | test); an unusable member as 0."""
    return np.column_stack([logit(d[f"{part}_{m}"][rows, k]) if m in usable else np.zeros(rows.sum()) for m in kinds])


def restack(path: Path) -> list[dict]:
    d = np.load(path, allow_pickle=False)
    kinds = [str(k) for k in d["kinds"]]
    held_rows = d["fold"] >= 0
    rows, full = [], []
    for k in range(d["y_tv"].shape[1]):
        usable = [m for m in kinds if not np.isnan(d[f"held_{m}"][held_rows, k]).any()
                  and not np.isnan(d[f"test_{m}"][:, k]).all()]
        Z = np.column_stack([logit(d[f"held_{m}"][held_rows, k]) for m in usable])
        Zt = np.column_stack([logit(d[f"test_{m}"][:, k]) for m in usable])
        y, yt = d["y_tv"][held_rows, k], d["y_test"][:, k]
        row = {"cohort": path.stem.rsplit("-seed", 1)[0], "seed": int(path.stem.rsplit("-seed", 1)[1]), "outcome": k,
               "registered": auroc(yt, d["default_test"][:, k])}
        members = {m: auroc(yt, d[f"test_{m}"][:, k]) for m in usable}
        oof = {m: auroc(y, d[f"held_{m}"][held_rows, k]) or 0.0 for m in usable}
        row.update({f"test_{m}": v for m, v in members.items()})
        row.update({f"oof_{m}": v for m, v in oof.items()})
        row["best_member_test"] = max(v for v in members.values() if v is not None)
        row["chosen_member"] = members[max(oof, key=oof.get)]  # the member the out-of-fold rows pick
        for name, rule in RULES.items():
            row[name] = auroc(yt, rule(Z, y, d["fold"][held_rows]).combine(Zt))
        rows.append(row)
        # every member in file order, an unusable one as logit 0, for the rules that pool outcomes
        full.append((_every(d, kinds, usable, "held", held_rows, k),
                     _every(d, kinds, usable, "test", np.ones(len(yt), bool), k), y, yt))
    file_rules = pooled_rules([f[0] for f in full], [f[2] for f in full])
    for row, (_, Zt, _, yt) in zip(rows, full):
        for name, combs in file_rules.items():
            row[name] = auroc(yt, combs[row["outcome"]].combine(Zt))
    return rows


def main() -> None:
    # the split seeds of the peers report (extra seeds of one cohort, bench.peers --out, would weigh it more)
    # and every seed of the MEDS cohort (bench.meds_tab --seeds: one generated cohort per seed)
    parts = sorted(p for p in MEMBERS.glob("*.npz")
                   if int(p.stem.rsplit("-seed", 1)[1]) in SEEDS or p.stem.startswith("meds-seed"))
    df = pd.DataFrame([r for p in parts for r in restack(p)]).dropna(subset=["registered", *RULES])
    names = [*RULES, *FILE_RULES]
    lines = [f"{len(df)} outcome-seeds from {df['cohort'].nunique()} cohorts ({len(parts)} cohort-seeds); test AUROC, "
             "each rule fitted on the out-of-fold rows only. `stack` reproduces the registered model (largest "
             f"difference {np.abs(df['stack'] - df['registered']).max():.1e}).", "",
             "| rule | mean AUROC | mean - chosen member | outcome-seeds below chosen member - 0.005 | worst vs chosen "
             "| mean - best member (test oracle) |", "|---|---|---|---|---|---|"]
    for name in names:
        d = df[name] - df["chosen_member"]
        lines.append(f"| {name} | {df[name].mean():.4f} | {d.mean():+.4f} | {int((d < -0.005).sum())} | {d.min():+.4f} | "
                     f"{(df[name] - df['best_member_test']).mean():+.4f} |")
    by = df.groupby("cohort", sort=False)[[*names, "chosen_member"]].mean()
    lines += ["", "| cohort | " + " | ".join(names) + " | chosen member |", "|---|" + "---|" * (len(names) + 1)]
    lines += [f"| {c} | " + " | ".join(f"{r[n]:.4f}" for n in names) + f" | {r['chosen_member']:.4f} |"
              for c, r in by.iterrows()]
    kinds = [c.removeprefix("oof_") for c in df.columns if c.startswith("oof_")]
    lines += ["", "Out-of-fold minus test AUROC per member (mean over outcome-seeds; the stack learns its weights "
              "from the out-of-fold numbers, so a member whose held-out rows flatter it gets too much weight; "
              "since d280a46 the networks early-stop on stop rows apart from them, so a gap here is the noise of "
              "small folds, no longer a choice made on them; before it covid's network showed +0.047):", "",
              "| cohort | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    def gap(rows: pd.DataFrame, m: str) -> str:  # "-": the member was not fitted there (lightgbm: no 10+ level category)
        value = (rows[f"oof_{m}"] - rows[f"test_{m}"]).mean()
        return "-" if np.isnan(value) else f"{value:+.3f}"

    for c, sub in df.groupby("cohort", sort=False):
        lines.append(f"| {c} | " + " | ".join(gap(sub, m) for m in kinds) + " |")
    lines.append("| all | " + " | ".join(gap(df, m) for m in kinds) + " |")
    write("restack", "python -m bench.restack " + " ".join(sys.argv[1:]), "\n".join(lines),
          {"rows": df.to_dict("records")})


if __name__ == "__main__":
    main()
