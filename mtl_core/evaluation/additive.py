"""Per-patient contributions, fast: each member's own additive attribution, combined the way the stack
combines its members.

The registered model's logit for outcome k is linear in its fold models' logits: each member averages
its fold models' logits (bagging), and the stacker adds the members' logits with non-negative weights,
then one Platt scale and bias (mtl_core/ensemble/stacked.py). So contributions computed per fold model
in its own logit space, against the same reference patient, add up through the same weights:

- logistic regression: exact linear contributions, coefficient x (patient - reference) per model column;
- gradient boosting: shap's TreeExplainer (path-dependent TreeSHAP) of the patient minus that of the
  reference, in the trees' raw margin; for LightGBM (categorical splits, which shap's own tree walker
  does not take) LightGBM's TreeSHAP (pred_contrib), the same difference;
- networks (multi-task and single-task): captum's DeepLift from the reference (its rescale rule sums
  exactly to the change of the output for Linear-ReLU networks), or integrated gradients where DeepLift
  does not sum up (gated experts), times the network's calibration scale.

Model columns (scaled values, missingness indicators, one-hot levels, bins) are summed back into the
predictor they came from. What is not attributed to a predictor is kept as `rest`: the integrated-
gradients approximation and the outcome-structure projection. For stacks of linear and tree members, and
networks DeepLift sums up for, the predictors' contributions alone add up to the model's logit minus the
reference's (tests/unit/test_additive.py).

Explanations describe the model, not causes.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mtl_core.evaluation.contributions import Contributions, _as_reference, baseline_shapley
from mtl_core.evaluation.explain import _logit

SUMS_UP = 1e-4   # largest |DeepLift delta| (logit units) accepted before integrated gradients is used
IG_STEPS = 32
CHUNK = 16_384   # rows per attribution call of a network
ROWS = 20_000    # rows attributed at once (a network's model columns x outcomes x rows, in float64)


class NotAdditive(Exception):
    """The model holds a member this module has no additive attribution for."""


def _owners(pre, raw: list[str]) -> list[str]:
    """The input column each output column of a fitted ColumnTransformer comes from (longest name prefix
    among the transformer's own input columns: `lactate`, `missingindicator_lactate`, `lactate_bin3`,
    `sex_F`)."""
    owners: list[str] = []
    for name, trans, cols in pre.transformers_:
        if name == "remainder" or trans == "drop" or not len(cols):
            continue
        cols = [raw[c] if isinstance(c, (int, np.integer)) else c for c in cols]
        for out in trans.get_feature_names_out(cols):
            out = str(out).removeprefix("missingindicator_")
            match = [c for c in cols if out == c or out.startswith(f"{c}_")]
            if not match:
                raise NotAdditive(f"model column {out} of no input column")
            owners.append(max(match, key=len))
    return owners


def _to_groups(values: np.ndarray, owners: list[str], groups: dict[str, list[str]]) -> np.ndarray:
    """(rows, model columns, K) -> (rows, predictors, K), summing the columns of each predictor."""
    where = {c: g for g, (_, cols) in enumerate(groups.items()) for c in cols}
    M = np.zeros((len(owners), len(groups)))
    for j, o in enumerate(owners):
        M[j, where[o]] = 1.0
    return np.einsum("rck,cg->rgk", values, M)


def _attributor(net, x, b, K: int):
    """DeepLift when it sums up on these rows (every outcome), else integrated gradients; with
    DeepLift's attributions of the rows it was checked on."""
    from captum.attr import DeepLift, IntegratedGradients

    deeplift, first = DeepLift(net), []
    for k in range(K):
        a, delta = deeplift.attribute(x, b, target=k, return_convergence_delta=True)
        if float(delta.abs().max()) > SUMS_UP:
            ig = IntegratedGradients(net)
            return (lambda x, b, k, ig=ig: ig.attribute(x, b, target=k, n_steps=IG_STEPS, method="gausslegendre")), None
        first.append(a)
    return (lambda x, b, k: deeplift.attribute(x, b, target=k)), first


def _network(est, X: pd.DataFrame, ref: pd.DataFrame, groups: dict[str, list[str]]) -> np.ndarray:
    """(rows, predictors, outcomes) for a MultiOutcomeClassifier, in its calibrated logit."""
    import torch

    net = est.network_.eval()
    Tx, Tr = est._transform(X), est._transform(ref)
    K = len(est.outcomes_)
    out = np.empty((len(X), Tx.shape[1], K), dtype=np.float64)
    attribute = first = None
    with warnings.catch_warnings():  # captum's notes on hooks and on inputs needing gradients
        warnings.simplefilter("ignore")
        for start in range(0, len(X), CHUNK):
            x = torch.from_numpy(np.ascontiguousarray(Tx[start:start + CHUNK]))
            b = torch.from_numpy(Tr).expand_as(x)
            if attribute is None:
                attribute, first = _attributor(net, x, b, K)
            for k in range(K):
                a = first[k] if first is not None and start == 0 else attribute(x, b, k)
                out[start:start + len(x), :, k] = a.detach().numpy()
    scale = np.broadcast_to(np.asarray(est.calibration_scale_, dtype=float), (K,))
    owners = _owners(est.preprocessor_, list(est.feature_names_in_))
    return _to_groups(out * scale, owners, groups)


def _single(model, X: pd.DataFrame, ref: pd.DataFrame, groups: dict[str, list[str]]) -> np.ndarray:
    """(rows, predictors) for one single-task Pipeline(pre, logistic | gradient boosting | LightGBM), in
    its logit."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from mtl_core.ensemble import lgbm

    pre, learner = model.named_steps["pre"], model.named_steps["model"]
    if isinstance(pre, lgbm.Categories):  # one model column per input column
        values, owners = lgbm.contributions(model, X, ref)
        return _to_groups(values[:, :, None], owners, groups)[:, :, 0]
    Tx, Tr = np.asarray(pre.transform(X), dtype=float), np.asarray(pre.transform(ref), dtype=float)
    if isinstance(learner, LogisticRegression):
        values = (Tx - Tr) * learner.coef_[0]
    elif isinstance(learner, HistGradientBoostingClassifier):
        import shap

        # shap's interventional TreeSHAP with the reference as background missed the margin by up to 0.9
        # on the default model's trees (shap 0.51); the difference of the path-dependent values of the
        # patient and the reference adds up exactly (to 1e-14)
        explainer = shap.TreeExplainer(learner, feature_perturbation="tree_path_dependent", model_output="raw")
        values = np.asarray(explainer.shap_values(np.vstack([Tx, Tr]), check_additivity=False), dtype=float)
        values = values[:-1] - values[-1]
    else:
        raise NotAdditive(type(learner).__name__)
    return _to_groups(values[:, :, None], _owners(pre, list(X.columns)), groups)[:, :, 0]


def _member(member, X: pd.DataFrame, ref: pd.DataFrame, groups: dict[str, list[str]], needed: list[int]
            ) -> np.ndarray:
    """(rows, predictors, outcomes): the member's bagged logit's contributions (mean over its folds)."""
    from mtl_core.ensemble.baselines import PositiveProba
    from mtl_core.ensemble.members import MTL
    from mtl_core.network.estimator import MultiOutcomeClassifier

    K = len(member.outcomes)
    total = np.zeros((len(X), len(groups), K))
    folds = np.zeros(K)
    for fit in member.fits:
        if member.kind == MTL:
            total += _network(fit, X, ref, groups)
            folds += 1
            continue
        nets: dict[int, np.ndarray] = {}  # single-task networks of one fold share one model
        for k in needed:
            c = fit.get(member.outcomes[k])
            if c is None:
                continue
            if not isinstance(c, PositiveProba):
                raise NotAdditive(type(c).__name__)
            if isinstance(c.model, MultiOutcomeClassifier):
                if id(c.model) not in nets:
                    nets[id(c.model)] = _network(c.model, X, ref, groups)
                total[:, :, k] += nets[id(c.model)][:, :, c.column]
            else:
                total[:, :, k] += _single(c.model, X, ref, groups)
            folds[k] += 1
    return total / np.maximum(folds, 1)


def _stack(model, X: pd.DataFrame, ref: pd.DataFrame, groups: dict[str, list[str]]) -> np.ndarray:
    values = np.zeros((len(X), len(groups), len(model.outcomes_)))
    by_kind = {m.kind: m for m in model.members_}
    for i, kind in enumerate(model.member_kinds_):
        needed = [k for k, c in enumerate(model.combiners_) if c.weights[i] > 0]
        if not needed:
            continue
        part = _member(by_kind[kind], X, ref, groups, needed)
        for k in needed:
            c = model.combiners_[k]
            values[:, :, k] += c.scale * c.weights[i] * part[:, :, k]
    return values


def member_contributions(model, X: pd.DataFrame, reference: pd.DataFrame, groups: dict[str, list[str]]
                         ) -> Contributions:
    """Contributions of each predictor group to each row's logit against the reference row, with the
    rest (rows, outcomes) that no predictor carries. NotAdditive for a model that is not a stack of
    the members above (the caller falls back to baseline Shapley values)."""
    if not hasattr(model, "combiners_"):
        raise NotAdditive(type(model).__name__)
    X = X[list(model.feature_names_in_)].reset_index(drop=True)
    ref = _as_reference(reference, X)
    values = np.concatenate([_stack(model, X.iloc[i:i + ROWS], ref, groups) for i in range(0, len(X), ROWS)])
    logit, ref_logit = _logit(model.predict_proba(X)), _logit(model.predict_proba(ref))[0]
    return Contributions(values, logit, ref_logit, list(groups), rest=logit - ref_logit - values.sum(1))


def contributions(model, X: pd.DataFrame, reference: pd.DataFrame, groups: dict[str, list[str]],
                  seed: int = 0) -> Contributions:
    """The members' additive attributions where the model is a stack of the members above, else (older
    or other models) the model-agnostic baseline Shapley values (mtl_core/evaluation/contributions.py)."""
    try:
        return member_contributions(model, X, reference, groups)
    except NotAdditive:
        return baseline_shapley(model.predict_proba, X, reference, groups, seed=seed)
