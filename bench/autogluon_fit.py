"""AutoGluon-Tabular per outcome, as a user runs it (executed in bench/.venvs/autogluon, never in .venv).

    python bench/autogluon_fit.py TRAIN.parquet TEST.parquet OUT.parquet --outcomes a,b --preset medium_quality
        [--time-limit SECONDS] [--cpus 2]
TRAIN holds the train+val rows (features and one label column per outcome, NaN = unlabelled), TEST the
test rows' features. Per outcome, a TabularPredictor (binary, eval_metric roc_auc) is fitted on the
labelled rows with the preset and, if given, the time limit per outcome (when best_quality's dynamic
stacking finds that too short, it is fitted again with dynamic_stacking=False, as AutoGluon's error
advises; the time of both attempts is counted; a fit that trains no model at all leaves NaN). OUT gets one test
probability column per outcome; OUT.json the fit seconds per outcome, the models AutoGluon kept and,
when its best model is a weighted ensemble, the weight of each model in it (what AutoGluon leans on).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from autogluon.tabular import TabularPredictor


def _fit(data: pd.DataFrame, label: str, args, extra: dict) -> TabularPredictor:
    path = tempfile.mkdtemp(prefix="ag-")  # removed with the process's temporary folder by the caller
    return TabularPredictor(label=label, problem_type="binary", eval_metric="roc_auc", path=path,
                            verbosity=0).fit(data, presets=args.preset, time_limit=args.time_limit,
                                             num_cpus=args.cpus, num_gpus=0, **extra)


def ensemble_weights(predictor: TabularPredictor | None) -> dict[str, float] | None:
    """{model: weight} of the best model when it is AutoGluon's weighted ensemble, else None."""
    if predictor is None:
        return None
    try:  # a private method of AutoGluon 1.6 (the pin): a report detail, never worth failing the fit for
        weights = predictor._trainer.load_model(predictor.model_best)._get_model_weights()
    except Exception:  # noqa: BLE001
        return None
    return {k: round(float(w), 3) for k, w in weights.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out")
    ap.add_argument("--outcomes", required=True)
    ap.add_argument("--preset", required=True)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    train, test = pd.read_parquet(args.train), pd.read_parquet(args.test)
    outcomes = args.outcomes.split(",")
    features = [c for c in train.columns if c not in outcomes]
    probs, info = pd.DataFrame(index=test.index), {}
    for o in outcomes:
        rows = train[o].notna()
        data = train.loc[rows, features].assign(**{o: train.loc[rows, o].astype(int)})
        start, retried, failed = time.perf_counter(), False, None
        try:
            predictor = _fit(data, o, args, {})
        except (AssertionError, RuntimeError) as short:  # best_quality's stacking can need more time than given
            retried = True
            try:  # dynamic_stacking=False is AutoGluon's own advice for a short time limit
                predictor = _fit(data, o, args, {"dynamic_stacking": False})
            except (AssertionError, RuntimeError) as again:
                predictor, failed = None, f"{short} / {again}"[:500]
        seconds = time.perf_counter() - start
        probs[o] = (predictor.predict_proba(test[features], as_multiclass=False).to_numpy() if predictor
                    else float("nan"))
        info[o] = {"fit_seconds": seconds, "best_model": predictor.model_best if predictor else None,
                   "models": len(predictor.model_names()) if predictor else 0,
                   "retried_without_dynamic_stacking": retried, "failed": failed,
                   "ensemble_weights": ensemble_weights(predictor)}
    probs.to_parquet(args.out)
    Path(args.out + ".json").write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
