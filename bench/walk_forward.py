"""Walk-forward wall time: qseq (full refit, warm start; local and Ray engines) vs Darts
``historical_forecasts(retrain=True)`` with an equivalent ``BlockRNNModel``, same protocol.

Protocol: daily S&P 500 (bundled ^GSPC, 10 years by default: 2009-2018), target and only input
the one-bar log return, GRU hidden 64 x 2 layers, lookback 64, horizon 5, batch 256, a fixed
number of epochs (no early stopping in either), expanding training window, refit every 21 bars
(monthly). Out-of-sample MSE is scored on the anchors both produce: the last bar before each
refit date, horizons 1..5. Darts is a benchmark-only dependency (``.venv-bench``):

    python3 -m venv .venv-bench
    .venv-bench/bin/pip install -c constraints.txt -e '.[ray]' darts pytorch-lightning
    .venv-bench/bin/python bench/walk_forward.py            # the whole 10 years
    .venv-bench/bin/python bench/walk_forward.py --folds 12  # the last 12 refits only

qseq's full refit runs twice: in one process (torch's own threads, like Darts) and with the
local engine's process pool (``--workers auto``: one process per CPU, one torch thread each,
refits in parallel; worker start-up is inside the timed region).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd

import qseq
from qseq.backtest.folds import WalkForwardConfig
from qseq.backtest.walk_forward import resolve_workers as wf_resolve
from qseq.backtest.walk_forward import walk_forward
from qseq.data.sources import load_prices
from qseq.train import TrainConfig

LOOKBACK, HORIZON, HIDDEN, LAYERS, BATCH, STEP = 64, 5, 64, 2, 256, 21
TRAIN_BARS = 504  # two years of history before the first refit
WARM_BARS = 252  # warm_bars: fine-tune on the last year only


def qseq_run(panel: pd.DataFrame, folds: int, epochs: int, refit: str, engine: str, workers: int | str,
             threads: int, warm_bars: int | None = None) -> tuple[float, pd.DataFrame]:
    forecaster = qseq.Forecaster(
        model="gru", lookback=LOOKBACK, horizons=HORIZON, features=("log_return",),
        hidden_size=HIDDEN, num_layers=LAYERS, train=TrainConfig(epochs=epochs, batch_size=BATCH), seed=0)
    t0 = time.perf_counter()
    res = walk_forward(
        forecaster, panel, engine=engine, workers=workers, threads=threads, baselines=(),
        folds=WalkForwardConfig(train_bars=TRAIN_BARS, test_bars=STEP, refit=refit, warm_epochs=1,
                                warm_bars=warm_bars, val_frac=0.0, max_folds=folds or None))
    return time.perf_counter() - t0, res.forecasts


def darts_run(panel: pd.DataFrame, first_test: pd.Timestamp, epochs: int) -> tuple[float, pd.DataFrame]:
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    close = panel.xs(panel.index.get_level_values("ticker")[0], level="ticker")["close"]
    r = np.log(close).diff().dropna().astype("float32")
    scale = float(r[r.index < first_test].std())  # training-period constant: no leakage
    series = TimeSeries.from_values((r / scale).to_numpy()[:, None])  # integer index (trading bars)
    start = int(r.index.searchsorted(first_test))
    model = BlockRNNModel(input_chunk_length=LOOKBACK, output_chunk_length=HORIZON, model="GRU",
                          hidden_dim=HIDDEN, n_rnn_layers=LAYERS, batch_size=BATCH, n_epochs=epochs,
                          random_state=0, pl_trainer_kwargs={"accelerator": "cpu",
                                                             "enable_progress_bar": False,
                                                             "enable_model_summary": False,
                                                             "logger": False})
    t0 = time.perf_counter()
    fcs = model.historical_forecasts(series, start=start, forecast_horizon=HORIZON, stride=STEP,
                                     retrain=True, last_points_only=False, verbose=False,
                                     overlap_end=False, show_warnings=False)
    wall = time.perf_counter() - t0
    rows = []
    for fc in fcs:
        first = int(fc.time_index[0])
        anchor = r.index[first - 1]  # the forecast is made at the close of the previous bar
        for h, v in enumerate(fc.values()[:, 0], start=1):
            rows.append({"date": anchor, "horizon": h, "y_hat": float(v) * scale,
                         "y_true": float(r.iloc[first + h - 1])})
    return wall, pd.DataFrame(rows)


def mse_on(frame: pd.DataFrame, anchors: pd.DatetimeIndex) -> float:
    part = frame[frame["date"].isin(anchors)]
    return float(((part["y_hat"] - part["y_true"]) ** 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--folds", type=int, default=0,
                    help="time only the last N monthly refits (default 0: all of them)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--skip-darts", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("pytorch_lightning", "lightning", "lightning.pytorch", "darts"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    panel = load_prices("sp500", start=f"{2019 - args.years}-01-01", offline=True)
    print(f"data: {panel.attrs['detail']}, {len(panel)} bars; {args.folds or 'all'} monthly refits, "
          f"{args.epochs} epochs, GRU {HIDDEN}x{LAYERS}, lookback {LOOKBACK}, horizon {HORIZON}")

    # one-time costs (torch's lazy imports on the first optimizer, Lightning's on the first
    # Trainer) are paid before any timed run: a 2-refit, 1-epoch run of each library
    qseq_run(panel, 2, 1, "full", "local", 1, 0)
    if not args.skip_darts:
        dates0 = pd.DatetimeIndex(np.unique(panel.index.get_level_values("date")))
        darts_run(panel, dates0[-2 * STEP - HORIZON], 1)
    full_s, full = qseq_run(panel, args.folds, args.epochs, "full", "local", 1, 0)
    warm_s, warm = qseq_run(panel, args.folds, args.epochs, "warm", "local", 1, 0)
    recent_s, recent = qseq_run(panel, args.folds, args.epochs, "warm", "local", 1, 0, WARM_BARS)
    anchors = pd.DatetimeIndex(sorted(full.groupby("fold")["date"].min()))
    # qseq's anchor for a block is its first test bar; Darts forecasts from the close before it
    dates = pd.DatetimeIndex(np.unique(panel.index.get_level_values("date")))
    prev = dates[dates.searchsorted(anchors) - 1]
    rows = [("qseq full refit (local)", full_s, mse_on(full, anchors)),
            ("qseq warm start (local)", warm_s, mse_on(warm, anchors)),
            (f"qseq warm start, last {WARM_BARS} bars (local)", recent_s, mse_on(recent, anchors))]
    if not args.skip_darts:
        darts_s, darts = darts_run(panel, anchors[0], args.epochs)
        darts_mse = mse_on(darts, prev)
        rows.append(("darts BlockRNNModel historical_forecasts(retrain=True)", darts_s, darts_mse))
    # the same full refits with the local engine's process pool (--workers auto: one process
    # per CPU, one torch thread each); spawning the workers and their imports are timed
    pool_s, pool = qseq_run(panel, args.folds, args.epochs, "full", "local", "auto", 0)
    workers = wf_resolve("auto", pool["fold"].nunique())
    pool_name = f"qseq full refit, local engine --workers auto ({workers} processes)"
    rows.append((pool_name, pool_s, mse_on(pool, anchors)))
    if not args.skip_ray:
        import ray

        local1_s, _ = qseq_run(panel, args.folds, args.epochs, "full", "local", 1, 1)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
        startup_s = time.perf_counter() - t0
        # a long-lived cluster has warm workers: let both import torch and qseq (a 2-fold run)
        t0 = time.perf_counter()
        qseq_run(panel, 2, 1, "full", "ray", 2, 1)
        warmup_s = time.perf_counter() - t0
        ray_s, ray_fc = qseq_run(panel, args.folds, args.epochs, "full", "ray", 2, 1)
        ray.shutdown()
        rows += [("qseq full refit, local engine, 1 thread/task", local1_s, mse_on(full, anchors)),
                 ("qseq full refit, ray engine, 2 workers x 1 thread", ray_s, mse_on(ray_fc, anchors)),
                 ("  (ray local cluster start-up, not included above)", startup_s, float("nan")),
                 ("  (ray worker warm-up: a 2-fold, 1-epoch run, not included)", warmup_s,
                  float("nan"))]
    zero = mse_on(full.assign(y_hat=0.0), anchors)
    print(f"\n{'run':58s} {'wall [s]':>9s} {'OOS MSE':>11s}")
    for name, wall, mse in rows:
        print(f"{name:58s} {wall:9.1f} {mse:11.4e}")
    print(f"{'random walk (zero forecast)':58s} {'':9s} {zero:11.4e}")
    table = {name: wall for name, wall, _ in rows}
    print("\nratios")
    if not args.skip_darts:
        d = table["darts BlockRNNModel historical_forecasts(retrain=True)"]
        print(f"darts / qseq full refit, one process   = {d / full_s:.2f}")
        print(f"darts / qseq full refit, --workers auto = {d / pool_s:.2f}  (target >= 1.0)")
        print(f"darts / qseq warm start  = {d / warm_s:.2f}  (target >= 5.0)")
        print(f"darts / qseq warm start, last {WARM_BARS} bars = {d / recent_s:.2f}  (target >= 5.0)")
    if not args.skip_ray:
        local1 = table["qseq full refit, local engine, 1 thread/task"]
        print(f"local / ray (2 workers)  = {local1 / ray_s:.2f}"
              "  (target >= 1.8)")
        print(f"local (torch threads) / ray = {full_s / ray_s:.2f}")


if __name__ == "__main__":
    main()
