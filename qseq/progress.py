"""A rich progress bar for training epochs (used by the CLI, or by ``fit(progress=True)``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qseq.train import EpochLog


class EpochProgress:
    def __init__(self, total: int, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True), transient=False,
        )
        self._task = self._progress.add_task("train", total=total, status="")
        self._progress.start()

    def update(self, entry: EpochLog) -> None:
        val = "" if entry.val_loss is None else f" val {entry.val_loss:.4f}"
        self._progress.update(self._task, advance=1,
                              status=f"loss {entry.train_loss:.4f}{val}")

    def close(self) -> None:
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=task.completed)
        self._progress.stop()


def epoch_progress(total: int, console: Console | None = None) -> EpochProgress:
    return EpochProgress(total, console)
