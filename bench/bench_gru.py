"""qseq vs a minimal hand-written PyTorch loop: the same GRU on the same windows, in one run.

GRU: hidden 64, 2 layers, lookback 64, horizon 5, batch 256, features log return and log
volume change. Figures: (a) training throughput (windows/s) on the bundled S&P 500 file and on a
100-series x 2500-day panel, (b) whole fit wall time including data preparation, (c) latency of
one single-window prediction, (d) peak memory (max RSS of a fresh process per measurement).

    python bench/bench_gru.py            # full run (several minutes on 2 cores)
    python bench/bench_gru.py --quick    # smaller panel, fewer epochs: a smoke run

Each measurement runs in its own spawned process, so peak RSS is per measurement and no run
warms another's caches. Ratios are qseq relative to the hand loop (>1 is faster for
throughput; latency and memory ratios are qseq / hand, <1 is better).
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pandas as pd

LOOKBACK, HORIZON, HIDDEN, LAYERS, BATCH = 64, 5, 64, 2, 256
FEATURES = ("log_return", "log_volume_change")


def synthetic_panel(n_series: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    """Seeded OHLCV panel (geometric random walks with per-series volatility)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2000-01-03", periods=n_days)
    vol = rng.uniform(0.005, 0.03, size=(1, n_series))
    ret = rng.standard_normal((n_days, n_series)) * vol
    close = 50 * np.exp(np.cumsum(ret, axis=0))
    open_ = close * np.exp(rng.standard_normal((n_days, n_series)) * vol / 3)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal((n_days, n_series))) * vol / 2)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal((n_days, n_series))) * vol / 2)
    volume = np.exp(rng.normal(14, 0.5, size=(n_days, n_series)))
    tickers = [f"S{i:03d}" for i in range(n_series)]
    idx = pd.MultiIndex.from_product([dates, tickers], names=["date", "ticker"])
    return pd.DataFrame({"open": open_.ravel(), "high": high.ravel(), "low": low.ravel(),
                         "close": close.ravel(), "volume": volume.ravel()}, index=idx)


def load_panel(name: str, quick: bool) -> pd.DataFrame:
    if name == "sp500":
        from qseq.data.bundled import load_dataset

        return load_dataset("sp500")
    return synthetic_panel(20 if quick else 100, 800 if quick else 2500)


def _setup() -> None:
    import torch

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(False)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hand_model(n_features: int, n_tickers: int):
    import torch
    from torch import nn

    class HandGRU(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(n_tickers, 8) if n_tickers > 1 else None
            self.rnn = nn.GRU(n_features + (8 if self.emb else 0), HIDDEN, LAYERS, batch_first=True)
            self.head = nn.Linear(HIDDEN, HORIZON)

        def forward(self, x, ticker):
            if self.emb is not None:
                x = torch.cat([x, self.emb(ticker)[:, None].expand(-1, x.shape[1], -1)], -1)
            return self.head(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    return HandGRU()


def _hand_train(model, x, y, t, epochs: int, xv=None, yv=None, tv=None) -> float:
    """The minimal loop a user would write: shuffle, slice, forward, MSE, AdamW, clip, step."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            loss = torch.nn.functional.mse_loss(model(x[idx], t[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if xv is not None:
            model.eval()
            with torch.no_grad():
                sum(float(torch.nn.functional.mse_loss(model(xv[i:i + 4096], tv[i:i + 4096]),
                                                       yv[i:i + 4096])) for i in range(0, len(xv), 4096))
    return time.perf_counter() - t0


def _windows(panel):
    from qseq.data.windows import make_windows

    return make_windows(panel, FEATURES, LOOKBACK, tuple(range(1, HORIZON + 1)))


def task_train_qseq(name: str, quick: bool, epochs: int) -> dict:
    _setup()
    from qseq.models import ModelConfig, build_model
    from qseq.train import TrainConfig, fit_model

    w = _windows(load_panel(name, quick))
    w = w.with_values(np.nan_to_num(w.values), np.nan_to_num(w.targets))
    torch_mod = __import__("torch")
    torch_mod.manual_seed(0)
    model = build_model("gru", ModelConfig(input_size=2, horizons=HORIZON, hidden_size=HIDDEN,
                                           num_layers=LAYERS, n_tickers=len(w.tickers)))
    cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr_schedule="none", patience=epochs + 1)
    t0 = time.perf_counter()
    fit_model(model, w, None, cfg, seed=0, device="cpu")
    secs = time.perf_counter() - t0
    return {"windows_per_s": len(w) * epochs / secs, "seconds": secs, "n": len(w),
            "peak_mb": _peak_mb()}


def task_train_hand(name: str, quick: bool, epochs: int) -> dict:
    _setup()
    import torch

    w = _windows(load_panel(name, quick))
    x = torch.tensor(np.nan_to_num(w.x))  # materialised [N, L, F], as a hand loop would
    y = torch.tensor(np.nan_to_num(w.y))
    t = torch.tensor(w.ticker)
    model = _hand_model(2, len(w.tickers))
    secs = _hand_train(model, x, y, t, epochs)
    return {"windows_per_s": len(w) * epochs / secs, "seconds": secs, "n": len(w),
            "peak_mb": _peak_mb()}


def task_fit_qseq(name: str, quick: bool, epochs: int) -> dict:
    _setup()
    import qseq

    panel = load_panel(name, quick)
    f = qseq.Forecaster("gru", lookback=LOOKBACK, horizons=HORIZON, features=FEATURES,
                        hidden_size=HIDDEN, num_layers=LAYERS, device="cpu",
                        train=qseq.TrainConfig(epochs=epochs, batch_size=BATCH, lr_schedule="none",
                                               patience=epochs + 1))
    t0 = time.perf_counter()
    f.fit(panel)
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def task_fit_hand(name: str, quick: bool, epochs: int) -> dict:
    """Hand pipeline: pandas features, strided windows, 70/15/15 split, scaler, train."""
    _setup()
    import torch

    panel = load_panel(name, quick)
    t0 = time.perf_counter()
    frame = panel.reorder_levels(["ticker", "date"]).sort_index()
    g = frame.groupby(level="ticker", sort=False)
    feats = pd.DataFrame({
        "r": np.log(frame["close"] / g["close"].shift(1)),
        "v": np.log1p(frame["volume"]) - np.log1p(g["volume"].shift(1)),
    })
    targets = np.stack([feats["r"].groupby(level="ticker", sort=False).shift(-k).to_numpy()
                        for k in range(1, HORIZON + 1)], axis=1)
    values = feats.to_numpy()
    pos = g.cumcount().to_numpy()
    ok = (pos >= LOOKBACK) & np.isfinite(targets).all(axis=1)
    anchors = np.flatnonzero(ok)
    dates = frame.index.get_level_values("date").to_numpy()[anchors]
    unique = np.unique(dates)
    cut1, cut2 = unique[int(len(unique) * 0.7) - 1], unique[int(len(unique) * 0.85) - 1]
    tr, va = anchors[dates <= cut1], anchors[(dates > cut1) & (dates <= cut2)]
    tr_rows = np.unique((tr[:, None] - np.arange(LOOKBACK)).ravel())
    mu, sd = values[tr_rows].mean(0), values[tr_rows].std(0)
    scaled = ((values - mu) / sd).astype(np.float32)
    ymu, ysd = targets[tr].mean(0), targets[tr].std(0)
    ys = ((targets - ymu) / ysd).astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(scaled, LOOKBACK, axis=0).transpose(0, 2, 1)
    codes = pd.factorize(frame.index.get_level_values("ticker"))[0]
    x, y = torch.tensor(view[tr - LOOKBACK + 1]), torch.tensor(ys[tr])
    xv, yv = torch.tensor(view[va - LOOKBACK + 1]), torch.tensor(ys[va])
    t, tv = torch.tensor(codes[tr]), torch.tensor(codes[va])
    model = _hand_model(2, int(codes.max()) + 1)
    _hand_train(model, x, y, t, epochs, xv, yv, tv)
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def task_latency(name: str, quick: bool, epochs: int) -> dict:
    """Single-window latency: qseq.predict_array vs the hand model's bare forward pass."""
    _setup()
    import torch

    import qseq

    panel = load_panel("sp500", quick)
    f = qseq.Forecaster("gru", lookback=LOOKBACK, horizons=HORIZON, features=FEATURES,
                        hidden_size=HIDDEN, num_layers=LAYERS, device="cpu",
                        train=qseq.TrainConfig(epochs=1, batch_size=BATCH))
    f.fit(panel)
    w = _windows(panel)
    raw = np.ascontiguousarray(w.x[-1])  # [L, F] raw features of the latest window
    hand = _hand_model(2, 1).eval()
    hand.load_state_dict(f.model_.state_dict())  # same parameter names: rnn.*, head.*
    xt = torch.tensor(f.scaler_x_.transform(raw))[None]

    def bare():
        with torch.inference_mode():
            return hand(xt, None)

    def ours():
        return f.predict_array(raw)

    def full():
        return f.predict(panel.iloc[-(LOOKBACK + 5):], last_only=True)

    out = {}
    for label, fn, reps in (("bare_forward", bare, 2000), ("predict_array", ours, 2000),
                            ("predict_panel", full, 100)):
        for _ in range(20):
            fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[label] = float(np.median(times) * 1e3)
    np.testing.assert_allclose(ours()[0], f.scaler_y_.inverse(bare().numpy()[0]), rtol=1e-5)
    return out


def run(fn, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


def best_of(fn, args, repeats: int) -> dict:
    results = [run(fn, *args) for _ in range(repeats)]
    return min(results, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    ep_small = args.epochs or (2 if quick else 5)
    ep_big = args.epochs or 1
    repeats = 1 if quick else 2
    baseline = run(_peak_baseline)
    print(f"process baseline after imports: {baseline['peak_mb']:.0f} MB")
    rows = []
    for name, epochs in (("sp500", ep_small), ("panel100x2500", ep_big)):
        q = best_of(task_train_qseq, (name, quick, epochs), repeats)
        h = best_of(task_train_hand, (name, quick, epochs), repeats)
        rows.append((f"(a) train throughput {name} [windows/s]", q["windows_per_s"],
                     h["windows_per_s"], q["windows_per_s"] / h["windows_per_s"]))
        rows.append((f"(d) peak RSS, training {name} [MB]", q["peak_mb"], h["peak_mb"],
                     q["peak_mb"] / h["peak_mb"]))
    for name, epochs in (("sp500", ep_small),):
        q = best_of(task_fit_qseq, (name, quick, epochs), repeats)
        h = best_of(task_fit_hand, (name, quick, epochs), repeats)
        rows.append((f"(b) fit wall incl. data prep {name} [s]", q["seconds"], h["seconds"],
                     h["seconds"] / q["seconds"]))
        rows.append((f"(d) peak RSS, whole fit {name} [MB]", q["peak_mb"], h["peak_mb"],
                     q["peak_mb"] / h["peak_mb"]))
    lat = run(task_latency, "sp500", quick, 1)
    rows.append(("(c) single-window predict latency [ms]", lat["predict_array"],
                 lat["bare_forward"], lat["predict_array"] / lat["bare_forward"]))
    rows.append(("    Forecaster.predict(panel tail) [ms]", lat["predict_panel"],
                 lat["bare_forward"], lat["predict_panel"] / lat["bare_forward"]))
    print(f"{'figure':48s} {'qseq':>12s} {'hand':>12s} {'ratio':>8s}")
    for label, q, h, r in rows:
        print(f"{label:48s} {q:12.2f} {h:12.2f} {r:8.3f}")
    print("ratio: throughput and fit = qseq speed / hand speed (>= 0.95 target); "
          "latency and memory = qseq / hand (latency target <= 1.3)")


def _peak_baseline() -> dict:
    _setup()
    import qseq  # noqa: F401

    return {"peak_mb": _peak_mb()}


if __name__ == "__main__":
    main()
