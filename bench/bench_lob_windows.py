"""Throughput of the order-book features and windows on a random (synthetic) book: events per
second for sampling + features at event time, 100 ms and 1 s, and for the whole
:func:`qseq.lob.windows.lob_windows` (features, direction labels, splits, scaler).

    python bench/bench_lob_windows.py                       # 1M events, 10 levels
    python bench/bench_lob_windows.py --events 200000 --levels 5

The book is random (not a market model; labelled synthetic): a one-cent ladder whose best bid
steps by at most one tick per event, with random sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qseq.lob.book import Book
from qseq.lob.features import FEATURES, book_features
from qseq.lob.windows import lob_windows


def random_book(n_events: int, levels: int, seed: int = 0) -> Book:
    rng = np.random.default_rng(seed)
    bid = 100 + 0.01 * np.cumsum(rng.integers(-1, 2, n_events))[:, None] - 0.01 * np.arange(levels)
    ask = bid[:, :1] + 0.01 * (1 + np.arange(levels))
    sizes = rng.integers(1, 100, (2, n_events, levels)).astype(float)
    time_s = np.cumsum(rng.exponential(0.01, n_events))
    return Book(time_s, ask, sizes[0], bid, sizes[1], source="random book", synthetic=True)


def timed(label: str, n_events: int, call, repeat: int = 3) -> None:
    best = min(_once(call) for _ in range(repeat))
    print(f"{label:<40} {best * 1e3:9.1f} ms  {n_events / best / 1e6:6.2f} M events/s")


def _once(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--levels", type=int, default=10)
    args = parser.parse_args()
    book = random_book(args.events, args.levels)
    print(f"synthetic random book: {args.events:,} events, {args.levels} levels")
    for every in ("event", "100ms", "1s"):
        timed(f"book_features default, {every}", args.events,
              lambda every=every: book_features(book, sampling=every))
    timed("book_features all features, event", args.events,
          lambda: book_features(book, features=FEATURES))
    timed("lob_windows lookback 100, k 10/20/50", args.events,
          lambda: lob_windows(book, lookback=100, horizons=[10, 20, 50]))


if __name__ == "__main__":
    main()
