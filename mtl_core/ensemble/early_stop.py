"""Where the gradient-boosting members (hist_gb, lightgbm) early-stop and pick their setting: a
stratified share of each fit's training rows, and the setting whose model ranks those rows best."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.model_selection import train_test_split

from mtl_core.evaluation.metrics import auroc

MIN_CLASS_FOR_EARLY_STOPPING = 20  # per class, so the 15 % stop split holds a few of each
GB_STOP_FRACTION = 0.15  # of the training rows, stratified: where gradient boosting early-stops and picks its setting


def too_few_to_stop(y: np.ndarray) -> bool:
    """Too few of a class for a stratified stop split that holds some of each."""
    return int(min(y.sum(), y.size - y.sum())) < MIN_CLASS_FOR_EARLY_STOPPING


def stop_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, stop) positions: a stratified GB_STOP_FRACTION of the rows to early-stop and pick a setting on."""
    return train_test_split(np.arange(y.size), test_size=GB_STOP_FRACTION, stratify=y, random_state=seed)


def best_on_stop(models: Iterable, X_stop, y_stop: np.ndarray):
    """The first of the fitted models (consumed in order) with the best AUROC on the stop rows; one the
    stop rows cannot rank is never preferred."""
    best, best_score = None, -np.inf
    for model in models:
        score = auroc(y_stop, model.predict_proba(X_stop)[:, 1])
        score = -np.inf if score is None else score
        if best is None or score > best_score:
            best, best_score = model, score
    return best
