"""Latency of a forecast from the latest bar: ``Forecaster.predict(panel, last_only=True)`` (a
price frame in, a tidy frame out: validation, features of the tail, scaling, forward) against
``Forecaster.predict_array`` on the same window (features already computed) and the bare torch
forward pass, in one run.

    python bench/bench_predict.py [--repeats 200] [--threads 1]

Runs are interleaved (A, B, C, A, B, C, ...) and reported as medians with the 10-90% range.
Torch and BLAS threads are pinned (``--threads``, default 1).
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    import qseq
    from qseq.data.features import compute_features

    torch.set_num_threads(args.threads)
    panel = qseq.load_prices("SPY", offline=True)
    forecaster = qseq.Forecaster(model="gru", lookback=64, horizons=5,
                                 train=qseq.TrainConfig(epochs=1)).fit(panel)
    cfg = forecaster.config
    x = compute_features(panel, cfg.features).to_numpy(np.float32)[-cfg.lookback:]
    mx, sx, _, _ = forecaster._scaler_tensors()
    xt = ((torch.as_tensor(x) - mx) / sx).unsqueeze(0)

    def forward() -> None:
        with torch.inference_mode():
            forecaster.model_(xt, None)

    cases = {
        "predict(panel, last_only=True)": lambda: forecaster.predict(panel, last_only=True),
        "predict_array(window)": lambda: forecaster.predict_array(x),
        "bare torch forward": forward,
    }
    got = forecaster.predict(panel, last_only=True)["y_hat"].to_numpy()
    np.testing.assert_allclose(got, forecaster.predict_array(x)[0], rtol=1e-5, atol=1e-7)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times["predict_array(window)"]))
    print(f"SPY panel {len(panel)} bars, gru lookback {cfg.lookback}, horizons {len(cfg.horizons)}; "
          f"torch threads {args.threads}; {args.repeats} interleaved repeats")
    for name, values in times.items():
        v = np.asarray(values) * 1e3
        print(f"{name:34s} median {np.median(v):8.3f} ms  (p10 {np.percentile(v, 10):.3f} .. "
              f"p90 {np.percentile(v, 90):.3f})  x{np.median(values) / base:.2f} of predict_array")


if __name__ == "__main__":
    main()
