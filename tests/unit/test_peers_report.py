"""bench.peers_report: which outcomes trail AutoGluon, how steadily, and what AutoGluon leaned on."""
from bench.peers_report import behind, frames, report


def _part(seed: int, cmtl: float, ag: float, weights: dict | None) -> dict:
    outcomes = [{"outcome": o, "n_test": 100, "positives": 20, "cmtl_auroc": c, "cmtl_brier": 0.1,
                 "logistic_auroc": 0.7, "logistic_brier": 0.1, "ag_medium_quality_auroc": a,
                 "ag_medium_quality_brier": 0.1, "ag_best_quality_auroc": a, "ag_best_quality_brier": 0.1}
                for o, c, a in (("death", cmtl, ag), ("relapse", 0.8, 0.79))]
    per = {"death": {"fit_seconds": 5.0, "ensemble_weights": weights}, "relapse": {"fit_seconds": 5.0}}
    ag = {k: {"wall_seconds": 10.0, "per_outcome": per} for k in ("medium_quality", "best_quality")}
    return {"cohort": "c1", "seed": seed, "kind": "clinical cohort", "rows_total": 500, "n_features": 4,
            "cmtl_seconds": 3.0, "autogluon": ag, "outcomes": outcomes,
            "machine": {"load_average_1_5_15min": [1.0, 1.0, 1.0]}}


def test_behind_lists_only_trailing_outcomes_with_seeds_and_weights():
    parts = [_part(1, 0.70, 0.72, {"LightGBM": 0.6, "RandomForest": 0.4}), _part(2, 0.71, 0.71, None),
             _part(3, 0.69, 0.72, {"LightGBM": 0.3, "CatBoost": 0.7})]
    rows = behind(parts, frames(parts)[0])
    assert [(r["cohort"], r["outcome"]) for r in rows] == [("c1", "death")]
    r = rows[0]
    assert abs(r["mean"] - (-0.05 / 3)) < 1e-9 and r["seeds"] == 3 and r["seeds_behind"] == 2
    # mean over the two seeds that recorded weights; a model missing from one counts 0 there
    assert r["ag_leaned_on"] == {"LightGBM": 0.45, "CatBoost": 0.35, "RandomForest": 0.2}
    markdown, data = report(parts, ["c1"], [1, 2, 3])
    assert "- c1 death: -0.0167 ± 0.015, behind on 2 of 3 seeds; AG leaned on LightGBM 0.45, CatBoost 0.35, RandomForest 0.20" in markdown
    assert data["behind"] == rows


def test_nothing_behind_adds_no_section():
    parts = [_part(1, 0.75, 0.72, None)]
    markdown, data = report(parts, ["c1"], [1])
    assert "Where cmtl is behind" not in markdown and data["behind"] == []


def test_extra_seeds_say_how_a_trailing_outcome_fares_over_all_seeds_without_moving_the_verdict():
    parts = [_part(1, 0.70, 0.72, None), _part(2, 0.71, 0.71, None), _part(3, 0.69, 0.72, None)]
    extra = [_part(4, 0.74, 0.72, None), _part(5, 0.73, 0.72, None)]
    plain, data_plain = report(parts, ["c1"], [1, 2, 3])
    markdown, data = report(parts, ["c1"], [1, 2, 3], extra)
    assert data["verdicts"] == data_plain["verdicts"]  # the targets stay the report's own seeds
    more = data["behind"][0]["all_seeds"]
    diffs = [-0.02, 0.0, -0.03, 0.02, 0.01]
    assert more["seeds"] == 5 and more["seeds_behind"] == 2
    assert abs(more["mean"] - sum(diffs) / 5) < 1e-9
    assert "over 5 split seeds (the extra ones run for this) -0.0040 ± 0.0093 (standard error), behind on 2" in markdown
    assert "all_seeds" not in data_plain["behind"][0]
