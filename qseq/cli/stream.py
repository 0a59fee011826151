"""``qseq stream``: replay bars through a saved model, one update per bar, with its latency."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from qseq.data.cache import encode_ticker, normalize_ticker
from qseq.data.sources import load_prices, parse_date
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.forecaster import Forecaster


def _find_checkpoint(out_dir: Path, ticker: str, model: str) -> Path:
    folder = out_dir / "checkpoints"
    found = [p for p in folder.glob(f"{encode_ticker(ticker)}_{model}_*")
             if p.is_dir() and not p.name.endswith(".train-state")] if folder.is_dir() else []
    if not found:
        raise CheckpointError(f"no saved {model} model for {ticker} under {folder}; run "
                              f"'qseq forecast --ticker {ticker} --model {model}' first "
                              "or pass --checkpoint DIR")
    return max(found, key=lambda p: p.stat().st_mtime)


def run_stream(console: Console, *, ticker: str, model: str, replay: str, checkpoint: str | None,
               out_dir: str, source: str, offline: bool, mode: str, device: str) -> None:
    key = normalize_ticker(ticker)
    if ":" not in replay:
        raise ConfigError(f"--replay must be START:END (dates, either may be empty), got {replay!r}")
    start_text, end_text = replay.split(":", 1)
    start, end = parse_date(start_text, "replay start"), parse_date(end_text, "replay end")
    path = Path(checkpoint) if checkpoint else _find_checkpoint(Path(out_dir), key, model)
    forecaster = Forecaster.load(path, device="cpu")
    if forecaster.config.model != model:
        raise ConfigError(f"{path} holds a {forecaster.config.model} model, not {model}; "
                          f"use --model {forecaster.config.model}")
    panel = load_prices(key, source=source, offline=offline)
    frame = panel.xs(key, level="ticker")
    dates = frame.index
    first = dates[0] if start is None else start
    last = dates[-1] if end is None else end
    replay_rows = (dates >= first) & (dates <= last)
    if not replay_rows.any():
        raise DataError(f"no bars of {key} between {first.date()} and {last.date()}; the data "
                        f"covers {dates[0].date()} to {dates[-1].date()}")
    history = panel[(panel.index.get_level_values("date") < first)]
    stream = forecaster.stream(key, mode=mode)
    if len(history):
        stream.warmup(history)
    console.print(f"model {path} ({forecaster.config.model}, lookback {forecaster.config.lookback}, "
                  f"mode {mode}); data {panel.attrs.get('source')}; warm-up {len(history)} bars")
    for note in panel.attrs.get("notes", []):
        console.print(f"note: {note}")

    hs = forecaster.config.horizons
    table = Table(title=f"{key} replay {first.date()} .. {last.date()}")
    for col in ("date", "close", *[f"h{h}" for h in hs], "latency µs"):
        table.add_column(col, justify="right")
    cols = [c for c in ("open", "high", "low", "close", "volume") if c in frame.columns]
    rows = frame.loc[replay_rows, cols]
    latencies = []
    for date, values in zip(rows.index, rows.to_numpy(), strict=True):
        bar = {"date": date, **dict(zip(cols, values, strict=True))}
        t0 = time.perf_counter_ns()
        out = stream.update(bar)
        latencies.append((time.perf_counter_ns() - t0) / 1e3)
        point = None if out is None else (out if out.ndim == 1 else out[:, out.shape[1] // 2])
        table.add_row(str(date.date()), f"{bar['close']:,.2f}",
                      *([f"{v:+.5f}" for v in point] if point is not None else ["warming up"] * len(hs)),
                      f"{latencies[-1]:.0f}")
    console.print(table)
    lat = np.asarray(latencies)
    console.print(f"{len(lat)} bars: update latency median {np.median(lat):.0f} µs, "
                  f"p99 {np.percentile(lat, 99):.0f} µs; re-encoding the {forecaster.config.lookback}-bar "
                  f"window takes {_reencode_us(forecaster, panel, key):.0f} µs per bar")


def _reencode_us(forecaster: Forecaster, panel: pd.DataFrame, ticker: str) -> float:
    from qseq.data.features import compute_features

    feats = compute_features(panel.xs(ticker, level="ticker", drop_level=False),
                             forecaster.config.features).to_numpy()
    window = np.ascontiguousarray(feats[-forecaster.config.lookback:])
    name = ticker if len(forecaster.tickers_) > 1 else None
    last = panel.index.get_level_values("date").max()
    forecaster.predict_array(window, name, anchor_date=last)
    times = []
    for _ in range(50):
        t0 = time.perf_counter_ns()
        forecaster.predict_array(window, name, anchor_date=last)
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return float(np.median(times))
