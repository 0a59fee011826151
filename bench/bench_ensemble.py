"""A batched seed ensemble vs one model and vs N sequential fits (issue 12's ensemble target).

Same data and settings for every run: the bundled S&P 500 (2002-2018), a GRU (hidden 32, one
layer) over 44 bars of five volatility/return features, 5 horizons, 8 epochs without early
stopping (patience = epochs, so every run trains the same number of steps). Three fits, each in
a fresh spawned process, interleaved round by round:

- one:        Forecaster(ensemble=1).fit
- batched:    Forecaster(ensemble=N).fit (the grouped kernel, one optimiser step per member)
- sequential: N lone Forecaster fits with seeds 0..N-1 (what the ensemble replaces)

Prints the median fit wall time (range over rounds) and the ratios batched/one and
sequential/one. Target: batched <= 2.5x one for N = 5. Torch threads are pinned (``--threads``).

    python bench/bench_ensemble.py --members 5 --rounds 3 --threads 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

FEATURES = ["log_return", "parkinson_vol_5", "parkinson_vol_22", "garman_klass_vol",
            "log_volume_change"]


def _fit(kind: str, members: int, threads: int, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    import qseq
    from qseq.data.bundled import load_dataset
    from qseq.data.windows import chronological_split

    panel = load_dataset("sp500")
    panel = panel[panel.index.get_level_values("date") >= "2002-01-01"]
    common = dict(lookback=44, horizons=5, features=FEATURES, target="realized_vol",
                  hidden_size=32, num_layers=1, device="cpu",
                  train={"epochs": 8, "patience": 8, "batch_size": 256})
    windows = qseq.Forecaster("gru", **common).windows(panel)
    split = chronological_split(windows, 0.15, 0.15, gap=5)
    train, val = split.train, split.val
    start = time.perf_counter()
    if kind == "sequential":
        for seed in range(members):
            qseq.Forecaster("gru", seed=seed, **common).fit_windows(windows, train, val)
    else:
        qseq.Forecaster("gru", ensemble=members if kind == "batched" else 1,
                        **common).fit_windows(windows, train, val)
    queue.put(time.perf_counter() - start)


def run(kind: str, members: int, threads: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fit, args=(kind, members, threads, queue))
    proc.start()
    seconds = queue.get()
    proc.join()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    kinds = ("one", "batched", "sequential")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind in kinds:
            times[kind].append(run(kind, args.members, args.threads))
        print(f"round {r + 1}: " + "  ".join(f"{k} {times[k][-1]:.2f}s" for k in kinds), flush=True)
    one = statistics.median(times["one"])
    print(f"\nGRU hidden 32, lookback 44, 8 epochs, {args.members} members, "
          f"{args.threads} torch threads, {args.rounds} rounds (median [min, max] fit wall)")
    for kind in kinds:
        med = statistics.median(times[kind])
        print(f"{kind:<11} {med:7.2f} s [{min(times[kind]):.2f}, {max(times[kind]):.2f}]  "
              f"{med / one:5.2f}x one")


if __name__ == "__main__":
    main()
