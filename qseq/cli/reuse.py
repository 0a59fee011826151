"""Reuse a saved fit from the CLI: one place that loads it and says what happened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from qseq.checkpoint import load_saved

T = TypeVar("T")


def reuse_saved(console: Console, ckpt: Path, load: Callable[[Path], T], refit: bool, what: str,
                warn_console: Console | None = None) -> T | None:
    """The fit saved at ``ckpt`` for the same data and settings, or None (nothing saved,
    ``--refit``, or unusable: then a warning naming why goes to ``warn_console``)."""
    saved, problem = load_saved(ckpt, load, refit)
    if problem:
        (warn_console or console).print(f"[yellow]saved {what} unusable ({problem}); "
                                        "training again[/yellow]")
    if saved is not None:
        console.print(f"[bold]model[/bold]: reusing {ckpt} (same data and config; "
                      "--refit to train again)")
    return saved
