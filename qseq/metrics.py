"""Forecast accuracy against a naive baseline, per horizon."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def forecast_metrics(
    y_true: np.ndarray, y_hat: np.ndarray, baseline: np.ndarray, horizons: Sequence[int],
    directional: bool = True,
) -> pd.DataFrame:
    """Per-horizon and pooled accuracy of ``y_hat`` and of the naive ``baseline``.

    y_true, y_hat, baseline: [N, H] in target units. Returns one row per horizon plus ``all``:
    n, mse, mae, baseline_mse, baseline_mae, mse_ratio (model / baseline, < 1 beats it) and,
    for return targets, dir_acc (share of non-zero outcomes whose sign the model got right).
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_hat = np.asarray(y_hat, dtype=np.float64)
    baseline = np.broadcast_to(np.asarray(baseline, dtype=np.float64), y_true.shape)
    rows = []
    cols = [(str(h), slice(i, i + 1)) for i, h in enumerate(horizons)] + [("all", slice(None))]
    for label, sl in cols:
        t, p, b = y_true[:, sl].ravel(), y_hat[:, sl].ravel(), baseline[:, sl].ravel()
        row = {
            "horizon": label,
            "n": int(t.size),
            "mse": float(np.mean((p - t) ** 2)) if t.size else np.nan,
            "mae": float(np.mean(np.abs(p - t))) if t.size else np.nan,
            "baseline_mse": float(np.mean((b - t) ** 2)) if t.size else np.nan,
            "baseline_mae": float(np.mean(np.abs(b - t))) if t.size else np.nan,
        }
        row["mse_ratio"] = row["mse"] / row["baseline_mse"] if row["baseline_mse"] else np.nan
        if directional:
            nz = t != 0
            row["dir_acc"] = float(np.mean(np.sign(p[nz]) == np.sign(t[nz]))) if nz.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("horizon")
