"""Rich progress bars for long steps, handed to mtl_core as plain callbacks."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def bar(description: str, total: int, stops_early: bool = False, console: Console | None = None
        ) -> Iterator[Callable[..., None]]:
    """Yields update(done, total=None, **fields) to move the bar; the bar closes with the block, full.
    stops_early: the work may end before `total` (training stopped early): the bar then ends where the
    last update left it, saying so ("15/15 ... stopped at epoch 15 of 60"), not at an epoch never run."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console) as prog:
        task = prog.add_task(description, total=total, info="")
        last = {"done": None, "info": ""}

        def update(done: int, total: int | None = None, info: str = "") -> None:
            last.update(done=done, info=info)
            prog.update(task, completed=done, total=total, info=info)

        yield update
        planned, done = prog.tasks[0].total, last["done"]
        if stops_early and done is not None and planned is not None and 0 < done < planned:
            note = f"stopped at {done} of {planned:g}"
            prog.update(task, total=done, completed=done,
                        info=f"{last['info']}; {note}" if last["info"] else note)
        else:
            prog.update(task, completed=planned)
