"""Order-book streaming: per-event latency of ``LobStream.update`` against re-running the window
through torch, in one run.

A GRU (hidden 32, one layer, lookback 100, k 10/20/50: LobConfig defaults but the model) with
the default features (10 levels x 4 LOBSTER columns, spread_bps, microprice_bps, imbalance
per level, ofi, log_return: 54 inputs) is fit for one epoch on a SYNTHETIC queue-reactive book
(:func:`qseq.lob.synthetic.simulate`; the weights do not change the cost), then a second
synthetic book of ``--events`` events is replayed event by event, each update timed with
``perf_counter_ns``:

- recurrent: one carried state, numpy kernel, O(1) per event (the issue's target: < 200 µs);
- window (kernel): ``lookback`` staggered numpy states, forecasts equal ``predict``;
- window (torch): the last ``lookback`` rows re-run through the torch model per event;
- parts of the recurrent update: the incremental book row alone
  (``IncrementalBookFeatures.event``) and the kernel's cell step alone.

Every update includes building the model-input row from the raw book arrays, scaling, the model
and the softmax. torch and numpy's BLAS run on ONE thread (``torch.set_num_threads(1)``,
``OMP_NUM_THREADS=1``, and the stream's BLAS pin): the per-event products are too small to
share. The window modes are checked against ``LobForecaster.predict`` (largest difference
printed). Latencies on a shared host are inflated and have long tails: the load average at
the start is printed; re-run alone for the figures that count.

    python bench/bench_lob_stream.py                  # 20,000 events, about a minute
    python bench/bench_lob_stream.py --events 100000  # longer replay, steadier tails
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy and torch load
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import platform
import time

import numpy as np

TARGET_US = 200.0


def _stats(ns: np.ndarray) -> dict[str, float]:
    us = np.asarray(ns, dtype=np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {"median": p50, "p90": p90, "p99": p99, "max": us.max(), "mean": us.mean(),
            "events_per_s": len(us) / (us.sum() / 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events replayed")
    parser.add_argument("--train-events", type=int, default=20_000, help="events to fit on")
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lookback", type=int, default=100)
    parser.add_argument("--torch-events", type=int, default=3_000,
                        help="events replayed through the torch window (slow)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from qseq.config import TrainConfig
    from qseq.lob.model import LobForecaster
    from qseq.lob.stream import IncrementalBookFeatures, LobStream, replay
    from qseq.lob.synthetic import simulate

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load "
          f"average {load:.2f} at start; torch {torch.__version__}, threads pinned to 1")
    train_book = simulate(args.train_events, levels=args.levels, seed=0)[1]
    book = simulate(args.events, levels=args.levels, seed=1)[1]
    forecaster = LobForecaster(model="gru", levels=args.levels, lookback=args.lookback,
                               hidden_size=args.hidden, train=TrainConfig(epochs=1, patience=1),
                               device="cpu", seed=0).fit(train_book)
    cfg = forecaster.config
    print(f"model: gru hidden {cfg.hidden_size}, {cfg.num_layers} layer, lookback {cfg.lookback}, "
          f"k {list(cfg.horizons)}, {len(forecaster.feature_names_)} inputs "
          f"({cfg.levels} levels, features {', '.join(cfg.features)}); replay: SYNTHETIC book of "
          f"{len(book):,} events")

    replay(forecaster, book, events=500)  # warm-up: imports, allocations, caches
    want = forecaster.predict(book)
    cols = ["p_down", "p_stationary", "p_up"]
    runs = {}
    for label, mode, engine, events in (("recurrent (kernel)", "recurrent", "kernel", None),
                                        ("window (kernel)", "window", "kernel", None),
                                        ("window (torch)", "window", "torch", args.torch_events)):
        t0 = time.perf_counter()
        frame, latency = replay(forecaster, book, mode=mode, engine=engine, events=events)
        wall = time.perf_counter() - t0
        diff = (float(np.abs(frame[cols].to_numpy() - want[cols].to_numpy()[:len(frame)]).max())
                if mode == "window" else float("nan"))
        runs[label] = (latency, diff, wall)

    # parts of the recurrent update, on the same events
    features = IncrementalBookFeatures(cfg.features, cfg.levels, cfg.prices, cfg.sampling)
    ns = np.empty(len(book), np.int64)
    for i in range(len(book)):
        t0 = time.perf_counter_ns()
        features.event(book.time[i], book.ask_price[i], book.ask_size[i], book.bid_price[i],
                       book.bid_size[i])
        ns[i] = time.perf_counter_ns() - t0
    parts = {"book row (features)": _stats(ns)}
    with LobStream(forecaster, "recurrent") as stream:
        row = np.full(len(forecaster.feature_names_), 0.1, np.float32)
        for i in range(len(book)):
            t0 = time.perf_counter_ns()
            stream.model.step(row)
            ns[i] = time.perf_counter_ns() - t0
        parts["cell step (kernel)"] = _stats(ns)
        for i in range(len(book)):
            t0 = time.perf_counter_ns()
            stream.model.raw(0)
            ns[i] = time.perf_counter_ns() - t0
        parts["head (kernel)"] = _stats(ns)

    print()
    print("per-event update latency [µs] (perf_counter_ns around each update)")
    print(f"{'path':22s} {'events':>8s} {'median':>8s} {'p90':>8s} {'p99':>8s} {'max':>9s} "
          f"{'mean':>8s} {'events/s':>10s} {'max |Δ| vs predict':>19s}")
    for label, (lat, diff, _) in runs.items():
        print(f"{label:22s} {lat.events:8d} {lat.median_us:8.1f} {lat.p90_us:8.1f} "
              f"{lat.p99_us:8.1f} {lat.max_us:9.1f} {lat.mean_us:8.1f} {lat.events_per_s:10,.0f} "
              f"{'' if diff != diff else f'{diff:.1e}':>19s}")
    print()
    print("parts of the recurrent update [µs]")
    for label, s in parts.items():
        print(f"{label:22s} {len(book):8d} {s['median']:8.1f} {s['p90']:8.1f} {s['p99']:8.1f} "
              f"{s['max']:9.1f} {s['mean']:8.1f} {s['events_per_s']:10,.0f}")
    rec, torch_window = runs["recurrent (kernel)"][0], runs["window (torch)"][0]
    verdict = "meets" if rec.median_us < TARGET_US and rec.p90_us < TARGET_US else "MISSES"
    print()
    print(f"target: a stream update under {TARGET_US:.0f} µs per event -> recurrent median "
          f"{rec.median_us:.1f} µs, p90 {rec.p90_us:.1f} µs, p99 {rec.p99_us:.1f} µs: {verdict} "
          f"it (median and p90); {torch_window.median_us / rec.median_us:.1f}x faster than "
          "re-running the window through torch")


if __name__ == "__main__":
    main()
