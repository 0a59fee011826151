"""``qseq lob stream``: replay a saved order-book model over an event file, one update per
event, with the latency of each update (:func:`qseq.lob.stream.replay`). Heavy imports happen
inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qseq.cli.lob import _slug, _source, source_options
from qseq.cli.options import debug_option

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from qseq.lob.sources import BookSource
    from qseq.lob.stream import Latency

STREAM_MODES = ("recurrent", "window")  # qseq.lob.stream.MODES (numpy-free here; a test pins it)
LABELS = ("down", "stationary", "up")


@click.command("stream")
@click.option("--checkpoint", required=True, type=click.Path(file_okay=False),
              help="Saved order-book model folder (qseq lob train prints it: "
                   "reports/checkpoints/lob_<source>_<model>).")
@source_options
@click.option("--events", type=click.IntRange(min=1), default=None,
              help="Replay only the first N events (default: all).")
@click.option("--mode", type=click.Choice(STREAM_MODES), default=None,
              help="recurrent: one carried state, O(1) per event (default for rnn, lstm, gru, "
                   "seq2seq ...); window: the fixed lookback, equal to the batch predictions "
                   "(the only mode of bidirectional, attention and deeplob models).")
@click.option("--out", "out_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Directory for the forecasts (Parquet + CSV).")
@debug_option
def stream_cmd(checkpoint: str, events: int | None, mode: str | None, out_dir: str,
               **opts: Any) -> None:
    """Replay an order book through a saved model event by event: per-event latency (median,
    p90, p99, max) and the forecasts, written to OUT/lob_stream_<source>_<model>.parquet/.csv."""
    from qseq.cli.main import console

    run_lob_stream(console, checkpoint=Path(checkpoint), opts=opts, events=events, mode=mode,
                   out_dir=Path(out_dir))


def run_lob_stream(console: Console, *, checkpoint: Path, opts: dict[str, Any],
                   events: int | None, mode: str | None, out_dir: Path) -> tuple[Path, Path]:
    """Load the model and the book, replay, print the latency and the last forecast, and write
    the forecasts; returns (Parquet path, CSV path)."""
    from qseq.checkpoint import read_config
    from qseq.errors import CheckpointError
    from qseq.lob.model import LobForecaster
    from qseq.lob.sources import load_book
    from qseq.lob.stream import replay

    if not checkpoint.is_dir():
        raise CheckpointError(f"no checkpoint folder {checkpoint}; train one with 'qseq lob "
                              "train' (it prints the folder) and pass it to --checkpoint")
    kind = read_config(checkpoint).get("kind", "forecaster")
    if kind != LobForecaster.kind:
        raise CheckpointError(f"{checkpoint} holds a {str(kind).replace('_', ' ')} checkpoint, "
                              "not an order-book model; pass a folder written by 'qseq lob "
                              "train'")
    forecaster = LobForecaster.load(checkpoint, device="cpu")
    cfg = forecaster.config
    source: BookSource = _source(opts)
    book = load_book(source, cfg.levels)
    console.print(f"model {checkpoint} ({cfg.model}, {cfg.levels} levels, lookback "
                  f"{cfg.lookback}, sampling {cfg.sampling}, k {list(cfg.horizons)})")
    console.print(f"data {book.source}" + (" [bold](SYNTHETIC)[/bold]" if book.synthetic else "")
                  + f", {len(book):,} events")
    frame, latency = replay(forecaster, book, mode=mode, events=events)
    console.print(f"mode {latency.how}")
    console.print(latency_table(latency))
    if len(frame):
        console.print(last_forecast_table(frame))
    else:
        console.print("no forecast: fewer complete samples than the lookback")
    name = f"lob_stream_{_slug(book.source)}_{cfg.model}"
    paths = write_forecasts(frame, out_dir / f"{name}.parquet", out_dir / f"{name}.csv")
    console.print(f"forecasts: {paths[0]} and {paths[1]}")
    return paths


def latency_table(latency: Latency):
    """A rich table of the per-event update latency."""
    from rich.table import Table

    table = Table(title="update latency per event")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [("mode", latency.mode), ("engine", latency.engine),
            ("events", f"{latency.events:,}"), ("samples", f"{latency.samples:,}"),
            ("forecasts", f"{latency.forecasts:,}"), ("median µs", f"{latency.median_us:.1f}"),
            ("p90 µs", f"{latency.p90_us:.1f}"), ("p99 µs", f"{latency.p99_us:.1f}"),
            ("max µs", f"{latency.max_us:.1f}"), ("mean µs", f"{latency.mean_us:.1f}"),
            ("events/s", f"{latency.events_per_s:,.0f}")]
    for key, value in rows:
        table.add_row(key, value)
    return table


def last_forecast_table(frame: pd.DataFrame):
    """A rich table of the forecast at the last sample: one row per horizon k."""
    from rich.table import Table

    last = frame.tail(frame["k"].nunique())  # one row per k at the last sample
    table = Table(title=f"last forecast (event {int(last['event'].iloc[0])}, "
                        f"time {last['time'].iloc[0]:.6f} s)")
    direction = "p_up" in frame.columns
    for col in ("k", *(("p_down", "p_stationary", "p_up", "label") if direction else ("y_hat",))):
        table.add_column(col, justify="right")
    for row in last.itertuples(index=False):
        if direction:
            table.add_row(str(row.k), f"{row.p_down:.4f}", f"{row.p_stationary:.4f}",
                          f"{row.p_up:.4f}", LABELS[int(row.label)])
        else:
            table.add_row(str(row.k), f"{row.y_hat:+.3e}")
    return table


def write_forecasts(frame: pd.DataFrame, parquet: Path, csv: Path) -> tuple[Path, Path]:
    """Write ``frame`` as Parquet and CSV, each atomically."""
    from qseq._io import atomic_path

    with atomic_path(parquet) as tmp:
        frame.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    return parquet, csv
