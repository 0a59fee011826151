"""Full refit, qseq vs Darts, interleaved: the same last-N-refits protocol as
``bench/walk_forward.py``, run qseq / Darts / qseq / Darts ... so that drift in the machine's
speed (noisy neighbours, clocks) hits both libraries alike. Prints each pair and the ratio of
medians. Needs the benchmark environment (``.venv-bench``, see walk_forward.py):

    .venv-bench/bin/python bench/walk_forward_ab.py --folds 4 --repeats 3
    .venv-bench/bin/python bench/walk_forward_ab.py --folds 24 --repeats 3 --workers auto
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from walk_forward import HORIZON, darts_run, qseq_run

from qseq.data.sources import load_prices


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=4, help="the last N monthly refits")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", default="1",
                    help="qseq local engine workers: 1 (one process) or 'auto' (a process pool)")
    args = ap.parse_args()
    workers = args.workers if args.workers == "auto" else int(args.workers)
    logging.disable(logging.WARNING)
    panel = load_prices("sp500", start="2009-01-01", offline=True)
    # untimed 1-epoch runs: one-time imports of both, and qseq's first test date for Darts
    _, fc = qseq_run(panel, args.folds, 1, "full", "local", 1, 0)
    first_test = fc["date"].min()
    _, dfc = darts_run(panel, first_test, 1)
    refits = (fc["fold"].nunique(), len(dfc) // HORIZON)
    print(f"refits: qseq {refits[0]}, darts {refits[1]}; qseq --workers {args.workers}")
    q, d = [], []
    for rep in range(args.repeats):
        q.append(qseq_run(panel, args.folds, args.epochs, "full", "local", workers, 0)[0])
        d.append(darts_run(panel, first_test, args.epochs)[0])
        print(f"pair {rep}: qseq {q[-1]:.2f} s, darts {d[-1]:.2f} s", flush=True)
    print(f"median qseq {np.median(q):.2f} s, darts {np.median(d):.2f} s, "
          f"darts / qseq = {np.median(d) / np.median(q):.2f}  (target >= 1.0)")


if __name__ == "__main__":
    main()
