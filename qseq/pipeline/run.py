"""``qseq pipeline run SPEC``: one run directory per pipeline and as-of date.

``reports/<pipeline>/<as_of>/`` holds manifest.json, forecasts.parquet, metrics.parquet,
importance.parquet, attention.parquet, folds.parquet, equity.parquet, checkpoints/ and
report.html. The run is built in a hidden ``.<as_of>.partial`` folder next to it and moved into
place only when complete, so an interrupted run leaves the previous good run untouched; the
partial folder keeps every finished fold, and the next run resumes from them. A second run of
the same pipeline while one is active is refused (an OS file lock, released if the process
dies).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from qseq import __version__
from qseq._io import atomic_write_text, atomic_write_with
from qseq.backtest.evaluate import evaluate
from qseq.backtest.walk_forward import FoldOutput, run_walk_forward
from qseq.data.sources import load_prices, parse_date
from qseq.errors import ConfigError, DataError, QseqError
from qseq.forecaster import panel_fingerprint
from qseq.pipeline.spec import PipelineSpec, load_spec

log = logging.getLogger(__name__)


class PipelineBusy(QseqError):
    """Another run of the same pipeline holds its lock."""


@dataclass
class RunOutcome:
    run_dir: Path
    manifest: dict
    metrics: pd.DataFrame
    verdict: str = ""  # evidence of skill vs the random walk (and the best baseline), in words


def _versions() -> dict[str, str]:
    import numpy
    import torch

    out = {"qseq": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "numpy": numpy.__version__, "pandas": pd.__version__}
    for name in ("statsmodels", "arch", "scipy", "pyarrow", "plotly", "ray"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            continue
    return out


def _restore_interrupted_swap(final: Path, old: Path) -> None:
    """A crash between the two renames of a swap leaves the old run in ``old``: put it back."""
    if old.exists() and not final.exists():
        os.replace(old, final)
    elif old.exists():
        shutil.rmtree(old)


def run_pipeline(
    spec_or_path: PipelineSpec | str | Path,
    *,
    as_of: str | None = None,
    out_root: str | Path = "reports",
    offline: bool = False,
    engine: str | None = None,
    workers: int | str | None = None,
) -> RunOutcome:
    """Run a pipeline for one as-of date (default: the last date in its data). An order-book
    spec (``kind: order_book``) runs :func:`qseq.lob.pipeline.run_lob_pipeline`."""
    spec = spec_or_path if not isinstance(spec_or_path, (str, Path)) else load_spec(spec_or_path)
    if not isinstance(spec, PipelineSpec):
        from qseq.lob.pipeline import run_lob_pipeline

        if as_of is not None or engine is not None or workers is not None:
            raise ConfigError(f"{spec.name} is an order-book pipeline: --as-of, --engine and "
                              "--workers apply to daily pipelines only")
        return run_lob_pipeline(spec, out_root)
    with pipeline_lock(out_root, spec.name) as root:
        return _run_locked(spec, root, as_of, offline, engine, workers)


@contextmanager
def pipeline_lock(out_root: str | Path, name: str) -> Iterator[Path]:
    """Hold pipeline ``name``'s lock for the block; yields its folder ``out_root/name``. A run
    already holding it raises :class:`PipelineBusy` at once."""
    root = Path(out_root) / name
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise PipelineBusy(f"pipeline {name!r} is already running (lock {root / '.lock'} is "
                           "held by another process); wait for it to finish") from None
    try:
        yield root
    finally:
        lock.release()


def publish(partial: Path, final: Path, old: Path) -> None:
    """Swap a finished ``partial`` run folder into ``final`` (the previous run moves to ``old``
    first and is removed after), so a reader sees either run whole."""
    if final.exists():
        os.replace(final, old)
    os.replace(partial, final)
    if old.exists():
        shutil.rmtree(old)


def _run_locked(spec: PipelineSpec, root: Path, as_of: str | None, offline: bool,
                engine: str | None, workers: int | str | None) -> RunOutcome:
    t0 = time.perf_counter()
    end = parse_date(as_of, "--as-of") if as_of else None
    spec_end = parse_date(spec.data.end, "data.end") if spec.data.end else None
    if end is not None and spec_end is not None:
        end = min(end, spec_end)
    panel = load_prices(spec.data.target, start=spec.data.start, end=end or spec_end,
                        source=spec.data.source, offline=offline, nan_policy=spec.data.nan_policy,
                        ohlc_policy=spec.data.ohlc_policy)
    dates = panel.index.get_level_values("date")
    last = dates.max()
    if end is not None and last < end - pd.Timedelta(days=7):
        raise DataError(f"the data of {spec.name} end on {last.date()}, well before --as-of "
                        f"{end.date()}; fetch newer data or pick an earlier date")
    stamp = str((end if end is not None and end <= last else last).date())
    final, partial, old = root / stamp, root / f".{stamp}.partial", root / f".{stamp}.old"
    _restore_interrupted_swap(final, old)
    if not partial.exists() and (final / "checkpoints").is_dir():
        # re-running a finished date: start from its folds (reused only if inputs match)
        shutil.copytree(final / "checkpoints", partial / "checkpoints")
    partial.mkdir(parents=True, exist_ok=True)
    log.info("pipeline %s as of %s: %d rows, source %s", spec.name, stamp, len(panel),
             panel.attrs.get("source"))

    wf_spec = spec.walk_forward_spec()
    t_wf = time.perf_counter()

    def fold_done(out: FoldOutput) -> None:  # a line per fold, so cron logs show progress
        info = out.info
        log.info("pipeline %s: fold %d of %s done (test %s..%s, %d training windows, %.1f s)",
                 spec.name, out.fold, out.group, info["test_first"], info["test_last"],
                 info["n_train"], info["fit_s"])

    result = run_walk_forward(panel, wf_spec, engine=engine or spec.engine.kind,
                              workers=workers or spec.engine.workers,
                              work_dir=partial / "checkpoints", ray_address=spec.engine.address,
                              on_fold=fold_done)
    wf_s = time.perf_counter() - t_wf
    ev = evaluate(result, panel, strategy=spec.strategy, costs=spec.costs,
                  buy_and_hold="buy_and_hold" in spec.baselines,
                  rolling_sharpe_bars=spec.report.rolling_sharpe_bars)

    def parquet(name: str, frame: pd.DataFrame) -> None:
        atomic_write_with(partial / f"{name}.parquet", lambda p: frame.to_parquet(p, index=False))

    parquet("forecasts", result.forecasts)
    parquet("metrics", ev.metrics)
    parquet("importance", result.importance)
    parquet("attention", result.heatmap)
    parquet("folds", result.folds.drop(columns=["scaler_x_mean", "scaler_x_std"], errors="ignore"))
    parquet("equity", ev.equity)
    manifest = {
        "pipeline": spec.name,
        "as_of": stamp,
        "spec_sha256": spec.digest(),
        "spec": asdict(spec),
        "data": {"source": panel.attrs.get("source"), "detail": panel.attrs.get("detail"),
                 "notes": list(panel.attrs.get("notes", [])),
                 "first_date": str(dates.min().date()), "last_date": str(last.date()),
                 "tickers": sorted(map(str, pd.unique(panel.index.get_level_values("ticker")))),
                 "rows": len(panel), "fingerprint": panel_fingerprint(panel)},
        "versions": _versions(),
        "seed": spec.forecaster.seed,
        "engine": engine or spec.engine.kind,
        "workers": result.timings["workers"],
        "folds": int(result.folds["fold"].nunique()),
        "timings_s": {"walk_forward": round(wf_s, 3), "fit": round(result.timings["fit_s"], 3),
                      "total": None},
    }
    from qseq.backtest.report import write_report

    data = manifest["data"]
    write_report(partial / "report.html", result, ev,
                 title=spec.report.title or f"{spec.name} as of {stamp}",
                 rolling_sharpe_bars=spec.report.rolling_sharpe_bars,
                 notes=[f"data {data['source']} ({data['detail']}): {data['first_date']} .. "
                        f"{data['last_date']}, {len(data['tickers'])} tickers",
                        f"costs {spec.costs.bps} bps + slippage {spec.costs.slippage_bps} bps",
                        f"spec sha256 {manifest['spec_sha256'][:16]}", *data["notes"]])
    manifest["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
    # timings vary run to run; everything else in the manifest is a function of the inputs
    atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=2, default=str))
    publish(partial, final, old)
    log.info("pipeline %s as of %s written to %s", spec.name, stamp, final)
    return RunOutcome(final, manifest, ev.metrics, ev.verdicts())


def list_specs(folder: str | Path = "pipelines") -> list[tuple[Path, PipelineSpec | None, str]]:
    """Every ``*.yaml`` spec in ``folder`` with its parsed spec, or None and the error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"no pipelines folder at {folder}; pass --dir")
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            out.append((path, load_spec(path), ""))
        except ConfigError as exc:
            out.append((path, None, str(exc)))
    return out
