"""The order-book direction study (issue 13): a model against the majority class and an
imbalance logistic regression on the real Bitstamp BTC/USD sample (30 minutes of level-3
events, read from the installed ob-analytics package), refit on chronological blocks.

Each block fold trains on everything before its test block (expanding, purged by lookback +
max k), early-stops on the last 20% of that, and scores the test block; the table gives each
method's mean macro F1 over blocks with a 95% t interval, and the model minus the logistic
baseline with its interval and p-value.

    python bench/lob_bitstamp_eval.py                                  # GRU, event time
    python bench/lob_bitstamp_eval.py --model deeplob --k 100,200,500 --blocks 5
    python bench/lob_bitstamp_eval.py --synthetic 500000                # a long SYNTHETIC book
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gru")
    parser.add_argument("--sampling", default="event")
    parser.add_argument("--lookback", type=int, default=100)
    parser.add_argument("--k", default="100,200,500")
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--ensemble", type=int, default=1)
    parser.add_argument("--train-stride", type=int, default=1)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synthetic", type=int, default=0,
                        help="events of a SYNTHETIC book instead of the Bitstamp sample")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from qseq.config import LobConfig, TrainConfig
    from qseq.lob.evaluate import evaluate_blocks
    from qseq.lob.sources import BookSource, load_book

    torch.set_num_threads(args.threads)
    source = (BookSource(synthetic=args.synthetic) if args.synthetic
              else BookSource(bitstamp_sample=True))
    book = load_book(source, args.levels)
    config = LobConfig(model=args.model, levels=args.levels, sampling=args.sampling,
                       lookback=args.lookback, horizons=args.k, hidden_size=args.hidden_size,
                       ensemble=args.ensemble, train_stride=args.train_stride,
                       train=TrainConfig(epochs=args.epochs, batch_size=256, lr=1e-3,
                                         patience=args.patience))
    print(f"data: {book.source}{' (SYNTHETIC)' if book.synthetic else ''}, {len(book):,} events; "
          f"model {args.model}, sampling {args.sampling}, lookback {args.lookback}, k {args.k}, "
          f"{args.blocks} blocks, ensemble {args.ensemble}, train stride {args.train_stride}, "
          f"torch threads {args.threads}")
    t0 = time.perf_counter()
    table = evaluate_blocks(book, config, args.blocks, device="cpu",
                            progress=lambda b, n: print(f"  block {b}/{n} done "
                                                        f"({time.perf_counter() - t0:.0f} s)"))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4))
    from qseq.lob.evaluate import confusion_text

    for k, by_method in table.attrs.get("confusion", {}).items():
        for method in ("model", "logistic_imbalance"):
            print(f"\nconfusion over the {args.blocks} test blocks, k={k}, {method}:\n"
                  + confusion_text(by_method[method]))


if __name__ == "__main__":
    main()
