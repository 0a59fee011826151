"""The walk-forward engine: refit per fold, forecast the next block, stitch the out-of-sample
forecasts of every fold into one tidy frame.

Work is split into *tasks*: one per (ticker group, fold) with full refits, or one per ticker
group running its folds in order with warm starts. A task is a plain function of plain data,
so the local engine runs it in this process (or a process pool) and the Ray engine runs the
very same function as a Ray task. Finished folds are written under ``work_dir`` and reused by
a rerun with the same inputs (an interrupted run resumes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from qseq._io import atomic_write_text, atomic_write_with
from qseq.backtest.baselines import baseline_forecast, ridge_forecast
from qseq.backtest.folds import Fold, FoldWindows, fold_windows, make_folds
from qseq.backtest.importance import attention_summary, permutation_importance
from qseq.checkpoint import input_files
from qseq.config import ForecastConfig, WalkForwardConfig, to_dict
from qseq.data.windows import Windows, rows_covered
from qseq.errors import ConfigError, DataError
from qseq.forecaster import Forecaster, panel_fingerprint
from qseq.runtime import torch_threads

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")
BASELINES = ("random_walk", "ar", "har", "har_log", "lhar_log", "garch", "gjr_garch", "reversal_1",
             "reversal_5", "momentum_20", "ridge")


@dataclass(frozen=True)
class WalkForwardSpec:
    """Everything a walk-forward run depends on besides the data: the forecaster's config,
    the fold layout, and what is run beside the model."""

    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    folds: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    per_ticker: bool = False
    baselines: tuple[str, ...] = ("random_walk",)
    ar_order: int = 1
    permutation_repeats: int = 3
    threads: int = 0  # torch threads per task; 0 = torch's default

    def __post_init__(self) -> None:
        object.__setattr__(self, "baselines", tuple(self.baselines))
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ConfigError(f"unknown baselines {unknown}; choose from {list(BASELINES)}")
        target = self.forecast.target
        vol_only = {"har", "garch"} & set(self.baselines)
        if vol_only and target not in ("realized_vol", "variance"):
            raise ConfigError(f"baselines {sorted(vol_only)} forecast volatility; use them with "
                              "target realized_vol or variance")
        variance_only = {"har_log", "lhar_log", "gjr_garch"} & set(self.baselines)
        if variance_only and target != "variance":
            raise ConfigError(f"baselines {sorted(variance_only)} forecast the variance target; "
                              "use them with target variance")
        if "ar" in self.baselines and target.startswith("excess_"):
            raise ConfigError(f"the ar baseline forecasts a ticker's own return, not {target}; "
                              "use random_walk, reversal_1/5, momentum_20 or ridge")
        returns_only = {"ar", "reversal_1", "reversal_5", "momentum_20", "ridge"} & set(self.baselines)
        if returns_only and target in ("realized_vol", "variance"):
            raise ConfigError(f"baselines {sorted(returns_only)} forecast returns; for {target} "
                              "use har/garch")
        if self.permutation_repeats < 0:
            raise ConfigError("permutation_repeats must be >= 0")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(to_dict(self), sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class FoldOutput:
    """What one fold of one ticker group produced."""

    group: str
    fold: int
    forecasts: pd.DataFrame  # date, ticker, horizon, y_hat, y_true, fold, model
    importance: pd.DataFrame  # fold, group, feature, method, value
    heatmap: pd.DataFrame  # fold, group, horizon, lag, weight, n
    info: dict


@dataclass
class WalkForwardResult:
    forecasts: pd.DataFrame  # date, ticker, horizon, y_hat, y_true, fold, model
    folds: pd.DataFrame  # one row per (group, fold): dates, sizes, leakage checks, timings
    importance: pd.DataFrame  # fold, group, feature, method, value
    heatmap: pd.DataFrame  # fold, group, horizon, lag, weight, n
    spec: WalkForwardSpec
    timings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    group: str
    tickers: tuple[str, ...]
    folds: tuple[int, ...]


def plan_tasks(panel: pd.DataFrame, spec: WalkForwardSpec, folds: Sequence[Fold]) -> list[Task]:
    """Tasks in result order: ticker groups x folds (full refit) or ticker groups (warm start)."""
    tickers = tuple(pd.unique(panel.index.get_level_values("ticker")))
    scored = spec.folds.score_tickers or tickers
    # per ticker, a ticker that is not scored would train a model nobody uses
    groups = ([(t, (t,)) for t in tickers if t in scored] if spec.per_ticker
              else [("panel", tickers)])
    if spec.folds.refit == "warm":
        return [Task(g, ts, tuple(f.index for f in folds)) for g, ts in groups]
    return [Task(g, ts, (f.index,)) for g, ts in groups for f in folds]


def largest_first(tasks: Sequence[Task], folds: Sequence[Fold]) -> list[int]:
    """Task indices, most training bars first: parallel engines submit in this order so the
    long expanding-window folds do not straggle at the end (longest-processing-time first)."""
    bars = {f.index: f.train_end - f.train_start + 1 for f in folds}
    cost = [len(t.tickers) * sum(bars[i] for i in t.folds) for t in tasks]
    return sorted(range(len(tasks)), key=lambda i: (-cost[i], i))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, e.g. a container
    limited with cpusets), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_workers(workers: int | str) -> None:
    if workers == "auto":
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1 or 'auto', got {workers!r}")


def resolve_workers(workers: int | str, n_tasks: int) -> int:
    """``workers`` as a count: ``auto`` is one per usable CPU, at most one per task."""
    check_workers(workers)
    return max(1, min(usable_cpus(), n_tasks)) if workers == "auto" else int(workers)


def calendar(panel: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.unique(panel.index.get_level_values("date")))


def walk_forward(
    forecaster: Forecaster | ForecastConfig,
    panel: pd.DataFrame,
    *,
    folds: WalkForwardConfig | None = None,
    baselines: Sequence[str] = ("random_walk",),
    per_ticker: bool = False,
    ar_order: int = 1,
    permutation_repeats: int = 0,
    threads: int = 0,
    engine: str = "local",
    workers: int | str = 1,
    work_dir: str | Path | None = None,
    on_fold: Callable[[FoldOutput], None] | None = None,
    ray_address: str | None = None,
) -> WalkForwardResult:
    """Walk-forward forecasts of ``panel`` (indexed ``(date, ticker)``) by ``forecaster``'s
    config (a :class:`Forecaster` or its :class:`ForecastConfig`), refit per fold.

    folds: the fold layout (default :class:`WalkForwardConfig`); baselines (random_walk, ar,
    and for realized_vol har, garch) run through the same folds; per_ticker: one model per
    ticker instead of one panel model; permutation_repeats: permutation importance per fold.
    engine: ``local`` (in this process, or a process pool with ``workers > 1``) or ``ray``
    (each task a Ray task; ``ray_address`` joins a running cluster, default a local one bound
    to 127.0.0.1). ``workers="auto"``: one worker per CPU this process may use, at most one per
    task. Pool workers get ``threads`` torch threads each, or (0) an equal share of the CPUs, so
    workers x threads never oversubscribes the machine. Same seed, same results from every
    engine. ``work_dir`` keeps finished folds, so an interrupted run resumes.
    """
    config = forecaster.config if isinstance(forecaster, Forecaster) else forecaster
    if not isinstance(config, ForecastConfig):
        raise ConfigError(f"walk_forward takes a Forecaster or a ForecastConfig, got "
                          f"{type(forecaster).__name__}")
    spec = WalkForwardSpec(forecast=config, folds=folds or WalkForwardConfig(), per_ticker=per_ticker,
                           baselines=tuple(baselines), ar_order=ar_order,
                           permutation_repeats=permutation_repeats, threads=threads)
    return run_walk_forward(panel, spec, engine=engine, workers=workers, work_dir=work_dir,
                            on_fold=on_fold, ray_address=ray_address)


def run_walk_forward(
    panel: pd.DataFrame,
    spec: WalkForwardSpec,
    *,
    engine: str = "local",
    workers: int | str = 1,
    work_dir: str | Path | None = None,
    on_fold: Callable[[FoldOutput], None] | None = None,
    ray_address: str | None = None,
) -> WalkForwardResult:
    """:func:`walk_forward` with everything but the engine settings in one ``spec``."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of {list(ENGINES)}")
    check_workers(workers)
    check_score_tickers(panel, spec.folds.score_tickers)
    t0 = time.perf_counter()
    dates = calendar(panel)
    folds = make_folds(dates, spec.folds, max(spec.forecast.horizons))
    tasks = plan_tasks(panel, spec, folds)
    workers = resolve_workers(workers, len(tasks))
    parts = {t.group: panel[panel.index.get_level_values("ticker").isin(t.tickers)] for t in tasks}
    work = None if work_dir is None else str(work_dir)
    log.info("walk-forward: %d folds, %d tasks, engine %s", len(folds), len(tasks), engine)
    if engine == "ray":
        from qseq.backtest.ray_engine import run_on_ray

        nested = run_on_ray(tasks, parts, dates, spec, work, workers, ray_address,
                            order=largest_first(tasks, folds))
        for o in (o for chunk in nested for o in chunk):
            if on_fold is not None:
                on_fold(o)
    elif workers > 1:
        from concurrent.futures import as_completed

        from qseq.parallel import process_pool

        order = largest_first(tasks, folds)
        threads = spec.threads or max(1, usable_cpus() // workers)
        with process_pool(workers, threads) as pool:
            futures = {i: pool.submit(run_task, tasks[i], parts[tasks[i].group], dates, spec, work,
                                      threads)
                       for i in order}
            for future in as_completed(futures.values()):
                for o in future.result():
                    if on_fold is not None:
                        on_fold(o)
            nested = [futures[i].result() for i in range(len(tasks))]
    else:
        nested = [run_task(t, parts[t.group], dates, spec, work, on_fold=on_fold) for t in tasks]
    outputs = [o for chunk in nested for o in chunk]
    result = WalkForwardResult(
        forecasts=pd.concat([o.forecasts for o in outputs], ignore_index=True),
        folds=pd.DataFrame([{"group": o.group, **o.info} for o in outputs]),
        importance=pd.concat([o.importance for o in outputs], ignore_index=True),
        heatmap=pd.concat([o.heatmap for o in outputs], ignore_index=True),
        spec=spec,
        timings={"total_s": time.perf_counter() - t0,
                 "fit_s": float(sum(o.info["fit_s"] for o in outputs)), "workers": workers},
    )
    return result


def check_score_tickers(panel: pd.DataFrame, score_tickers: Sequence[str]) -> None:
    """Every ticker to score must be in the panel."""
    have = set(panel.index.get_level_values("ticker"))
    missing = [t for t in score_tickers if t not in have]
    if missing:
        raise DataError(f"walk_forward.score_tickers {missing} are not in the data (it has "
                        f"{sorted(have)[:10]}{', ...' if len(have) > 10 else ''}); score tickers "
                        "the data holds")


def scored_windows(windows: Windows, positions: np.ndarray, score_tickers: Sequence[str]
                   ) -> np.ndarray:
    """The window positions among ``positions`` whose ticker is scored (all when none named)."""
    if not score_tickers:
        return positions
    wanted = set(score_tickers)
    ids = [k for k, t in enumerate(windows.tickers) if t in wanted]
    return positions[np.isin(windows.ticker[positions], ids)]


# -- one task ------------------------------------------------------------------------------
def run_task(task: Task, panel: pd.DataFrame, dates: pd.DatetimeIndex, spec: WalkForwardSpec,
             work_dir: str | None, threads: int = 0,
             on_fold: Callable[[FoldOutput], None] | None = None) -> list[FoldOutput]:
    """Run ``task``'s folds in order with ``threads`` torch threads (0: ``spec.threads``, or
    torch's default when that is 0 too), calling ``on_fold`` after each. Pure function of its
    arguments (plus finished folds in ``work_dir``), so every engine gives the same result."""
    with torch_threads(threads or spec.threads or None):  # the caller's count is put back
        return _run_task(task, panel, dates, spec, work_dir, on_fold)


def _run_task(task: Task, panel: pd.DataFrame, dates: pd.DatetimeIndex, spec: WalkForwardSpec,
              work_dir: str | None, on_fold: Callable[[FoldOutput], None] | None) -> list[FoldOutput]:
    folds = make_folds(dates, spec.folds, max(spec.forecast.horizons))
    windows = Forecaster(spec.forecast).windows(panel, require_targets=False)
    data_key = panel_fingerprint(panel)
    if files := input_files(spec.forecast):  # an edited sentiment or vectors file: refit
        data_key += json.dumps(files, sort_keys=True)
    outputs: list[FoldOutput] = []
    previous: Forecaster | None = None
    for i in task.folds:
        fold = folds[i]
        key = hashlib.sha256(f"{spec.digest()}|{data_key}|{task.group}|{i}|{fold.test_start}|"
                             f"{fold.test_end}|{fold.train_start}|{fold.train_end}".encode()).hexdigest()
        fold_dir = Path(work_dir) / "folds" / task.group / f"fold_{i:04d}" if work_dir else None
        done = load_fold(fold_dir, key) if fold_dir is not None else None
        if done is not None:
            log.info("fold %d of %s: reusing finished fold in %s", i, task.group, fold_dir)
            outputs.append(done)
            if on_fold is not None:
                on_fold(done)
            if spec.folds.refit == "warm":
                previous = Forecaster.load(fold_dir / "model", device="cpu")
            continue
        out, forecaster = run_fold(fold, windows, panel, spec, task.group,
                                   warm=previous if spec.folds.refit == "warm" else None)
        out.info["key"] = key
        if fold_dir is not None:
            save_fold(fold_dir, out, forecaster)
        outputs.append(out)
        if on_fold is not None:
            on_fold(out)
        previous = forecaster
    return outputs


def run_fold(fold: Fold, windows: Windows, panel: pd.DataFrame, spec: WalkForwardSpec, group: str,
             warm: Forecaster | None = None) -> tuple[FoldOutput, Forecaster]:
    """Fit on the fold's training windows (scalers refit on its rows), forecast its test block.
    Uses only the forecaster's public surface: ``fit_windows``, ``forecast_windows``, ``scale``."""
    cfg = spec.forecast
    h_max = max(cfg.horizons)
    fw = fold_windows(windows, fold, spec.folds, h_max)
    fw = dataclasses.replace(fw, test=scored_windows(windows, fw.test, spec.folds.score_tickers))
    if len(fw.train) < 32:
        raise DataError(f"fold {fold.index} ({group}) has only {len(fw.train)} training windows; "
                        "use more walk_forward.train_bars or a shorter lookback")
    t0 = time.perf_counter()
    fc = Forecaster(cfg, device="cpu")
    warm_model = warm.model_ if warm is not None else None
    tune = None
    if warm_model is not None and spec.folds.warm_bars is not None:
        recent = fold.dates[max(fold.train_end - spec.folds.warm_bars + 1, 0)]
        tune = fw.train[windows.anchor_date[fw.train] >= recent.to_datetime64()]
    fc.fit_windows(windows, fw.train, fw.val, warm_start=warm_model,
                   epochs=spec.folds.warm_epochs if warm_model is not None else None, tune=tune)
    fit_s = time.perf_counter() - t0
    train_w = windows.subset(fw.train)
    fitted_w = windows.subset(np.concatenate([fw.train, fw.val]))
    target_rows = np.minimum(fitted_w.anchors + h_max, len(windows.row_date) - 1)
    info = {
        "fold": fold.index,
        "train_first": str(fold.train_first_date.date()),
        "train_last_anchor": str(pd.Timestamp(fitted_w.anchor_date.max()).date()),
        "train_last_target": str(pd.Timestamp(windows.row_date[target_rows].max()).date()),
        "scaler_last_row": str(pd.Timestamp(windows.row_date[rows_covered(train_w)].max()).date()),
        "test_first": str(fold.test_first_date.date()),
        "test_last": str(fold.test_last_date.date()),
        "n_train": int(len(fw.train)), "n_val": int(len(fw.val)), "n_test": int(len(fw.test)),
        "n_fit": int(len(fw.train if tune is None else tune)),
        "best_epoch": fc.result_.best_epoch, "epochs_run": len(fc.result_.history),
        "warm_start": warm_model is not None, "fit_s": fit_s, "threads": torch.get_num_threads(),
        "scaler_x_mean": fc.scaler_x_.mean_.tolist(), "scaler_x_std": fc.scaler_x_.std_.tolist(),
    }
    frames, importance, heatmap = [], [], []
    if len(fw.test):
        tidy, attn = fc.forecast_windows(windows, fw.test)
        frames.append(tidy[list(FORECAST_COLUMNS)].assign(fold=fold.index, model=cfg.model))
        imp, heat = attention_summary(attn, cfg.features)
        if imp is not None:
            importance.append(imp.assign(method="attention"))
        if heat is not None:
            heatmap.append(heat)
        if spec.permutation_repeats:
            perm = permutation_importance(fc.model_, fc.scale(windows.subset(fw.test), targets=True),
                                          spec.permutation_repeats, seed=cfg.seed + fold.index)
            importance.append(perm.assign(method="permutation"))
        frames.extend(baseline_frames(spec, windows, fw, panel, fold))
    forecasts = pd.concat(frames, ignore_index=True) if frames else _empty_forecasts()
    imp_frame = (pd.concat(importance, ignore_index=True).assign(fold=fold.index, group=group)
                 if importance else pd.DataFrame(columns=["feature", "value", "method", "fold", "group"]))
    heat_frame = (pd.concat(heatmap, ignore_index=True).assign(fold=fold.index, group=group)
                  if heatmap else pd.DataFrame(columns=["horizon", "lag", "weight", "n", "fold", "group"]))
    return FoldOutput(group, fold.index, forecasts, imp_frame, heat_frame, info), fc


FORECAST_COLUMNS = ("date", "ticker", "horizon", "y_hat", "y_true")


def _empty_forecasts() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": pd.Series(dtype=object),
                         "horizon": pd.Series(dtype=np.int64), "y_hat": pd.Series(dtype=np.float64),
                         "y_true": pd.Series(dtype=np.float64), "fold": pd.Series(dtype=np.int64),
                         "model": pd.Series(dtype=object)})


def baseline_frames(spec: WalkForwardSpec, windows: Windows, fw: FoldWindows, panel: pd.DataFrame,
                    fold: Fold) -> list[pd.DataFrame]:
    """Baseline forecasts for the fold's test windows, each refit on the fold's training rows
    (``ridge``: pooled over the task's tickers on the model's own training windows)."""
    cfg = spec.forecast
    test = windows.subset(fw.test)
    # the last bar a training target may reach (the model's windows obey the same bound)
    fit_end = fold.dates[fold.test_start - 1 - spec.folds.embargo]
    frames = []
    for name in spec.baselines:
        if name == "ridge":
            y_hat = ridge_forecast(windows, fw.train, fw.val, fw.test)
            frames.append(test.tidy(cfg.horizons, y_hat, fold=fold.index, model=name))
            continue
        y_hat = np.full(test.y.shape, np.nan)
        late = []
        for tid, ticker in enumerate(test.tickers):
            mine = test.ticker == tid
            if not mine.any():
                continue
            bars = panel.xs(ticker, level="ticker")
            if bars.index[0] > fit_end:  # listed after the training span: nothing to fit on
                late.append(ticker)
                continue
            y_hat[mine] = baseline_forecast(name, bars, cfg.target, fit_end,
                                            pd.DatetimeIndex(test.anchor_date[mine]), cfg.horizons,
                                            ar_order=spec.ar_order, proxy=cfg.proxy)
        if late:
            log.info("baseline %s: no forecast for %d tickers without bars up to %s (%s)", name,
                     len(late), fit_end.date(), ", ".join(late[:5]) + (", ..." if len(late) > 5 else ""))
        frames.append(test.tidy(cfg.horizons, y_hat, fold=fold.index, model=name))
    return frames


# -- finished folds on disk ------------------------------------------------------------------
def save_fold(fold_dir: Path, out: FoldOutput, forecaster: Forecaster) -> None:
    """Write a finished fold; ``info.json`` goes last and marks it complete."""
    fold_dir.mkdir(parents=True, exist_ok=True)
    forecaster.save(fold_dir / "model")
    for name, frame in (("forecasts", out.forecasts), ("importance", out.importance),
                        ("heatmap", out.heatmap)):
        atomic_write_with(fold_dir / f"{name}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
    atomic_write_text(fold_dir / "info.json", json.dumps({"group": out.group, "info": out.info}))


def load_fold(fold_dir: Path, key: str) -> FoldOutput | None:
    marker = fold_dir / "info.json"
    if not marker.is_file():
        return None
    try:
        saved = json.loads(marker.read_text())
        if saved["info"].get("key") != key:
            return None
        frames = {n: pd.read_parquet(fold_dir / f"{n}.parquet")
                  for n in ("forecasts", "importance", "heatmap")}
    except (OSError, ValueError, KeyError):
        log.warning("ignoring unreadable finished fold in %s; recomputing it", fold_dir)
        return None
    return FoldOutput(saved["group"], int(saved["info"]["fold"]), frames["forecasts"],
                      frames["importance"], frames["heatmap"], saved["info"])
