"""Training throughput of every registry model relative to the hand-written PyTorch GRU loop,
on the same windows, in one run.

Every model in ``qseq.models.list_models()`` is built at the CLI defaults (hidden 64, 2 layers)
and trained by qseq's training loop (``fit_model``: AdamW, clipping, teacher forcing where the
model has a decoder) for one epoch on the bundled S&P 500 windows of ``bench_gru.py`` (lookback
64, horizon 5, batch 256, features log return and log volume change). The reference is
``bench_gru.py``'s minimal hand loop around ``nn.GRU``, run the same way.

    python bench/bench_models.py                      # every model (a few minutes on 2 cores)
    python bench/bench_models.py --models gru lstm    # a subset
    python bench/bench_models.py --epochs 3           # steadier figures

Each measurement runs in its own spawned process with 2 torch threads; the hand loop runs before
and after the models and the faster run counts (a busy machine slows one of them). ratio = model windows/s
/ hand GRU windows/s: how many times the hand GRU's speed (the cost of each architecture, plus
qseq's loop, which ``bench_gru.py`` shows costs nothing for the GRU itself).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_gru import (
    BATCH,
    HIDDEN,
    HORIZON,
    LAYERS,
    LOOKBACK,
    _setup,
    _windows,
    load_panel,
    run,
    task_train_hand,
)


def task_train_model(name: str, epochs: int) -> dict:
    """One registry model through qseq's training loop on the bench_gru windows."""
    _setup()
    import torch

    from qseq.models import ModelConfig, build_model
    from qseq.train import TrainConfig, fit_model

    w = _windows(load_panel("sp500", False))
    w = w.with_values(np.nan_to_num(w.values), np.nan_to_num(w.targets))
    torch.manual_seed(0)
    model = build_model(name, ModelConfig(input_size=2, horizons=HORIZON, hidden_size=HIDDEN,
                                          num_layers=LAYERS, n_tickers=len(w.tickers),
                                          lookback=LOOKBACK))
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr_schedule="none", patience=epochs + 1)
    t0 = time.perf_counter()
    fit_model(model, w, None, cfg, seed=0, device="cpu")
    secs = time.perf_counter() - t0
    return {"windows_per_s": len(w) * epochs / secs, "seconds": secs, "n": len(w),
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> None:
    from qseq.models import list_models

    models = list_models()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=models, choices=models)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    first = run(task_train_hand, "sp500", False, args.epochs)
    rows = [(name, run(task_train_model, name, args.epochs)) for name in args.models]
    last = run(task_train_hand, "sp500", False, args.epochs)  # before and after: the faster
    hand = max(first, last, key=lambda r: r["windows_per_s"])  # one is the less disturbed
    print(f"training throughput, S&P 500 windows (n={hand['n']}), {args.epochs} epoch(s), batch "
          f"{BATCH}, lookback {LOOKBACK}, hidden {HIDDEN}, {LAYERS} layers")
    print(f"{'model':16s} {'parameters':>11s} {'windows/s':>10s} {'seconds':>8s} {'ratio':>7s}")
    print(f"{'hand GRU loop':16s} {'':>11s} {hand['windows_per_s']:10.0f} {hand['seconds']:8.2f} "
          f"{1.0:7.3f}")
    for name, r in rows:
        print(f"{name:16s} {r['parameters']:11,d} {r['windows_per_s']:10.0f} {r['seconds']:8.2f} "
              f"{r['windows_per_s'] / hand['windows_per_s']:7.3f}")
    print("ratio = model windows/s / hand GRU loop windows/s (qseq's loop around each model)")


if __name__ == "__main__":
    main()
