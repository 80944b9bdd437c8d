"""Rich progress bars for long steps, handed to mtl_core as plain callbacks."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def bar(description: str, total: int) -> Iterator[Callable[..., None]]:
    """Yields update(done, total=None, **fields) to move the bar; the bar closes with the block."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn()) as prog:
        task = prog.add_task(description, total=total, info="")

        def update(done: int, total: int | None = None, info: str = "") -> None:
            prog.update(task, completed=done, total=total, info=info)

        yield update
        prog.update(task, completed=prog.tasks[0].total)
