"""The promotion gate as a pure function: challenger vs champion AUROCs on the same test set."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verdict:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return ("promoted: " if self.promote else "rejected: ") + "; ".join(self.reasons)


def decide(challenger: dict[str, float | None], champion: dict[str, float | None] | None,
           margin: float) -> Verdict:
    """Promote unless some outcome's AUROC falls more than `margin` below the champion's.

    Both dicts map outcome -> AUROC measured on the same test rows (None = not estimable). An outcome
    the champion did not predict cannot regress; an outcome the challenger cannot be scored on can.
    """
    if champion is None:
        return Verdict(True, ["no champion yet"])
    reasons, ok = [], True
    for name in champion:
        if name not in challenger:
            ok = False
            reasons.append(f"{name}: predicted by the champion but not by the challenger")
    for name, new in challenger.items():
        old = champion.get(name)
        if old is None:
            reasons.append(f"{name}: no champion AUROC to compare (new outcome or not estimable)")
        elif new is None:
            ok = False
            reasons.append(f"{name}: challenger AUROC not estimable, champion {old:.3f}")
        elif new < old - margin:
            ok = False
            reasons.append(f"{name}: AUROC {new:.3f} vs champion {old:.3f} "
                           f"(drop {old - new:.3f} > margin {margin:.3f})")
        else:
            reasons.append(f"{name}: AUROC {new:.3f} vs champion {old:.3f} (ok)")
    return Verdict(ok, reasons)
