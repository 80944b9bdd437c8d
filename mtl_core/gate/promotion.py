"""The promotion gate as pure functions (the public face of mtl_core/gate/): evidence about a challenger
(and the champion, on the same rows) -> verdict.

A challenger becomes champion only if, for every outcome:
1. the lower bound of its test AUROC's bootstrap CI is above the outcome's floor (`auroc_floors`, else
   `default_floor`, 0.5: the model must be shown to beat a coin flip, not merely score above one by
   chance); every version must clear it, the first one included;
2. it is non-inferior to the champion: the lower bound of the paired bootstrap CI of
   AUROC(challenger) - AUROC(champion), both scored on the same test rows, is >= -margin;
3. the same non-inferiority holds within every group of every configured subgroup column (with its own
   margin), for groups with at least `subgroup_min_events` positives and negatives; smaller groups are
   reported, not gated;
4. optionally, its expected calibration error is at most `max_ece` and its calibration slope lies in
   `calibration_slope_range` (every version, the first one included);
5. optionally (mtl_core/evaluation/fairness.py): the lower CI bound of AUROC in every subgroup with enough events
   is above `subgroup_auroc_floor`, and the upper CI bounds of the TPR / FPR gaps between groups at the
   operating point are at most `max_tpr_gap` / `max_fpr_gap` (the challenger must show the gap is small).

Without a CI (evaluation.n_boot 0) the point estimate stands in for a bound, and the verdict says so.

Why non-inferiority (lower CI bound >= -margin) rather than "reject only if significantly worse": the
burden of proof sits with the challenger. The champion already passed this gate; keeping it one more
cycle costs little, while replacing it with a worse model harms patients. A "significantly worse" rule
gets easier to pass the less evaluation data there is (wide CIs never exclude zero), so a small or rare-
outcome test set would wave regressions through; under non-inferiority a wide CI means "not shown",
the challenger stays challenger and the report says which outcome lacked evidence. This is the
non-inferiority framework clinical reviewers know from trials (CONSORT): the two-sided 95% CI's lower
bound against a pre-declared margin. Identical predictions give a CI of exactly [0, 0] and pass.
When no paired CI exists (the champion could only be compared through its recorded metrics, or
evaluation.n_boot is 0) the point estimate must not drop by more than the margin.

Where each part lives: rules.py (thresholds, read from `registry:`), evidence.py (what is measured per
outcome), checks.py (one named function per rule, in the order of CHECKS), verdict.py (checks -> verdict),
history.py (the champion history tag).
"""
from __future__ import annotations

from mtl_core.evaluation.paired import Comparison, compare
from mtl_core.gate.checks import CHECKS, Check, outcome_checks
from mtl_core.gate.evidence import Evidence, gather
from mtl_core.gate.history import parse_history, push_history, rollback_target
from mtl_core.gate.rules import Rules, check_rules
from mtl_core.gate.verdict import Verdict, decide, gate

__all__ = ["CHECKS", "Check", "Comparison", "Evidence", "Rules", "Verdict", "check_rules", "compare", "decide",
           "gather", "gate", "outcome_checks", "parse_history", "push_history", "rollback_target"]
