"""The epoch bar ends where training stopped, not at the planned number of epochs."""
from __future__ import annotations

import io

from rich.console import Console

from flows.runtime.progress import bar


def _run(epochs_run: int, planned: int, stops_early: bool) -> str:
    out = io.StringIO()
    with bar("Multi-task network (epochs)", total=planned, stops_early=stops_early,
             console=Console(file=out, width=160, force_terminal=False)) as update:
        for epoch in range(1, epochs_run + 1):
            update(epoch, info=f"val mean AUROC 0.{700 + epoch}")
    return out.getvalue().strip().splitlines()[-1]


def test_early_stopping_ends_the_bar_at_the_last_epoch():
    last = _run(15, 60, stops_early=True)
    assert "15/15" in last and "stopped at 15 of 60" in last and "val mean AUROC 0.715" in last
    assert "60/60" not in last


def test_a_bar_that_runs_to_the_end_or_is_not_early_stopping_fills_up():
    assert "60/60" in _run(60, 60, stops_early=True)
    assert "12/12" in _run(5, 12, stops_early=False)  # other bars close full, as before
