"""Streaming: cost of one ``stream.update(bar)`` vs re-encoding the 64-bar window, in one run.

Every streaming model at the CLI defaults (hidden 64, 2 layers), lookback 64, horizon 5, batch
1, fitted for one epoch on the bundled S&P 500 file, then replayed bar by bar over its last
2,000 bars. Figures (medians, microseconds per bar):

- re-encode: ``Forecaster.predict_array`` on the latest 64-bar window (scale, torch forward
  under ``inference_mode``, unscale), and the bare torch forward pass alone;
- window update: ``Stream.update`` in ``window`` mode (forecasts equal the fixed-window ones;
  the replay checks it against ``Forecaster.predict`` and prints the largest difference);
- stateful update: ``Stream.update`` in ``stateful`` mode (one carried state, O(1));
- where the time goes: the stream's cell step alone (all layers, 64 rows in window mode, 1 in
  stateful mode), torch's own fused cell doing the same step (the model's ``nn.GRU`` /
  ``nn.LSTM`` called on one bar), and what the update spends outside the cell (bar checks,
  incremental features, head, unscaling).

    python bench/bench_stream.py                    # every streaming model (about 2 minutes)
    python bench/bench_stream.py --models gru lstm  # the targets only

Each model runs in its own spawned process with 2 torch threads, as in ``bench_gru.py``.
Ratios are re-encode cost / update cost (>1: the update is cheaper).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_gru import HIDDEN, HORIZON, LAYERS, LOOKBACK, _setup, run

REPLAY = 2000


def _median_us(fn, args_seq) -> float:
    times = []
    for args in args_seq:
        t0 = time.perf_counter_ns()
        fn(*args)
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e3


def task_stream(model: str) -> dict:
    _setup()
    import torch

    import qseq
    from qseq.data.bundled import load_dataset
    from qseq.data.features import compute_features

    panel = load_dataset("sp500")
    f = qseq.Forecaster(model, lookback=LOOKBACK, horizons=HORIZON, hidden_size=HIDDEN,
                        num_layers=LAYERS, device="cpu", seed=0,
                        train=qseq.TrainConfig(epochs=1, batch_size=256))
    f.fit(panel)
    frame = panel.xs("^GSPC", level="ticker")
    cols = ["open", "high", "low", "close", "volume"]
    bars = [{"date": d, **dict(zip(cols, v, strict=True))}
            for d, v in zip(frame.index, frame[cols].to_numpy(), strict=True)]
    first = len(bars) - REPLAY
    out = {}

    # re-encoding the latest window, qseq's serving path and the bare forward pass
    feats = compute_features(panel, f.config.features).to_numpy()
    window = np.ascontiguousarray(feats[-LOOKBACK:])
    xt = torch.tensor(f.scaler_x_.transform(window), dtype=torch.float32)[None]

    def bare():
        with torch.inference_mode():
            return f.model_(xt).y_hat

    for fn in (bare, lambda: f.predict_array(window)):
        for _ in range(30):
            fn()
    out["reencode"] = _median_us(lambda: f.predict_array(window), [()] * 500)
    out["bare"] = _median_us(bare, [()] * 500)

    want = f.predict(panel).pivot(index="date", columns="horizon", values="y_hat")
    got = {}
    for mode in ("window", "stateful"):
        stream = f.stream(mode=mode)
        for bar in bars[first - 3 * LOOKBACK:first]:  # warm up: features and a full window
            stream.update(bar)
        times, outs = [], {}
        for bar in bars[first:]:
            t0 = time.perf_counter_ns()
            y = stream.update(bar)
            times.append(time.perf_counter_ns() - t0)
            outs[bar["date"]] = y
        got[mode] = outs
        out[f"{mode}_update"] = float(np.median(times)) / 1e3
        kernel, row = stream.kernel, [0.001] * len(f.config.features)
        out[f"{mode}_cell"] = _median_us(kernel.step, [(row,)] * REPLAY)
        rows = kernel.layers[0].h.shape[0]
        x = torch.full((rows, len(f.config.features)), 0.1)
        cell = f.model_.rnn if hasattr(f.model_, "rnn") else f.model_.encoder

        def torch_step(x_t, state, cell=cell):
            return cell(x_t.unsqueeze(1), state)[1]

        with torch.inference_mode():
            state = torch_step(x, None)
            out[f"{mode}_torch_cell"] = _median_us(torch_step, [(x, state)] * REPLAY)
    dates = list(got["window"])
    window_y = np.stack([got["window"][d] for d in dates])
    out["max_diff"] = float(np.abs(window_y - want.loc[dates].to_numpy()).max())
    stateful_y = np.stack([got["stateful"][d] for d in dates])
    out["stateful_gap"] = float(np.abs(stateful_y - window_y).mean() / window_y.std(axis=0).mean())
    return out


def main() -> None:
    from qseq.models import MODELS

    streaming = sorted(n for n, s in MODELS.items() if s.streams)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gru", "lstm"] + [
        m for m in streaming if m not in ("gru", "lstm")], choices=streaming)
    args = parser.parse_args()
    results = {m: run(task_stream, m) for m in args.models}
    print(f"per-bar cost, batch 1, lookback {LOOKBACK}, hidden {HIDDEN}, {LAYERS} layers [µs]; "
          "ratio = predict_array re-encode / update")
    print(f"{'model':14s} {'re-encode':>10s} {'bare fwd':>9s} {'window':>8s} {'ratio':>6s} "
          f"{'stateful':>9s} {'ratio':>6s} {'max |Δ| vs predict':>19s}")
    for m, r in results.items():
        print(f"{m:14s} {r['reencode']:10.1f} {r['bare']:9.1f} {r['window_update']:8.1f} "
              f"{r['reencode'] / r['window_update']:6.1f} {r['stateful_update']:9.1f} "
              f"{r['reencode'] / r['stateful_update']:6.1f} {r['max_diff']:19.1e}")
    print()
    print("where an update goes [µs]: the cell step of all layers (qseq numpy kernel vs torch's "
          "fused cell on the same rows) and the rest of the update (bar checks, features, head)")
    print(f"{'model':14s} {'mode':9s} {'rows':>5s} {'update':>8s} {'cell':>8s} {'torch cell':>11s} "
          f"{'rest':>7s} {'stateful vs window':>19s}")
    for m, r in results.items():
        for mode, rows in (("window", LOOKBACK), ("stateful", 1)):
            gap = f"{r['stateful_gap']:.1%}" if mode == "stateful" else ""
            print(f"{m:14s} {mode:9s} {rows:5d} {r[f'{mode}_update']:8.1f} {r[f'{mode}_cell']:8.1f} "
                  f"{r[f'{mode}_torch_cell']:11.1f} {r[f'{mode}_update'] - r[f'{mode}_cell']:7.1f} "
                  f"{gap:>19s}")
    print("stateful vs window: mean |stateful - window forecast| over the replay, relative to the "
          "spread (std over time) of the window forecasts")


if __name__ == "__main__":
    main()
