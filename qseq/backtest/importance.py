"""Feature importance on out-of-sample windows: mean attention (for models that have it) and
permutation importance (for every model), plus their rank agreement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from qseq.data.windows import Windows
from qseq.runtime import configure_torch_threads
from qseq.train import WindowBatches, future_kwargs


def attention_summary(
    attention: dict[str, np.ndarray], features: Sequence[str]
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Mean feature attention and the temporal attention heatmap of one fold's windows.

    attention: may hold ``feature_attention`` [N, T, F] and ``attention`` [N, H, T].
    Returns (importance: feature, value, n) with the per-feature mean weight (sums to 1) and
    (heatmap: horizon index (1-based position in the horizons), lag, weight, n) where lag 0 is
    the window's last bar. Either is None when the model has no such attention.
    """
    imp = heat = None
    fa = attention.get("feature_attention")
    if fa is not None and len(fa):
        mean = fa.astype(np.float64).mean(axis=(0, 1))
        imp = pd.DataFrame({"feature": list(features), "value": mean, "n": len(fa)})
    ta = attention.get("attention")
    if ta is not None and len(ta):
        mean = ta.astype(np.float64).mean(axis=0)  # [H, T]
        h, t = mean.shape
        heat = pd.DataFrame({"horizon": np.repeat(np.arange(1, h + 1), t),
                             "lag": np.tile(np.arange(t - 1, -1, -1), h),
                             "weight": mean.reshape(-1), "n": len(ta)})
    return imp, heat


@torch.no_grad()
def permutation_importance(model: nn.Module, scaled: Windows, repeats: int = 3, seed: int = 0,
                           batch_size: int = 4096) -> pd.DataFrame:
    """Relative MSE increase when one feature is shuffled across the windows.

    For feature f, ``x[:, :, f]`` of every window is replaced by that of a random other window
    (the whole history of the feature moves together, so its within-window dynamics are
    intact but its link to the target is broken). value = mean over ``repeats`` of
    (MSE_permuted / MSE - 1), in scaled target units over all horizons. Returns columns
    feature, value, std, n.
    """
    configure_torch_threads()  # qseq's thread policy (qseq.runtime)
    model.eval()
    data = WindowBatches(scaled, torch.device("cpu"))
    x, y, ticker = data.gather(data.anchors)
    future = data.future_of(data.anchors)  # calendar inputs are not shuffled

    def mse(inputs: torch.Tensor) -> float:
        outs = []
        for i in range(0, len(inputs), batch_size):
            part = None if future is None else future[i:i + batch_size]
            yh = model(inputs[i:i + batch_size], ticker[i:i + batch_size],
                       **future_kwargs(part)).y_hat
            if yh.dim() == 3:
                yh = yh[..., yh.shape[-1] // 2]
            outs.append(yh)
        return float(((torch.cat(outs) - y) ** 2).mean())

    base = mse(x)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for f, name in enumerate(scaled.feature_names):
        scores = []
        for _ in range(repeats):
            perm = torch.randperm(len(x), generator=gen)
            shuffled = x.clone()
            shuffled[:, :, f] = x[perm, :, f]
            scores.append(mse(shuffled) / base - 1.0 if base > 0 else 0.0)
        rows.append({"feature": name, "value": float(np.mean(scores)),
                     "std": float(np.std(scores)), "n": len(x)})
    return pd.DataFrame(rows)


def overall_importance(importance: pd.DataFrame) -> pd.DataFrame:
    """Per method and feature: the window-weighted mean over folds. Columns method, feature,
    value, folds."""
    if importance.empty:
        return pd.DataFrame(columns=["method", "feature", "value", "folds"])
    frame = importance.assign(weighted=importance["value"] * importance["n"])
    grouped = frame.groupby(["method", "feature"], sort=False)
    out = (grouped["weighted"].sum() / grouped["n"].sum()).rename("value").to_frame()
    out["folds"] = grouped["fold"].nunique()
    return out.reset_index()


def rank_agreement(importance: pd.DataFrame) -> dict[str, float] | None:
    """Spearman rank correlation between overall attention and permutation importance (None
    when the model has no feature attention or fewer than 3 features)."""
    overall = overall_importance(importance)
    wide = overall.pivot(index="feature", columns="method", values="value")
    if not {"attention", "permutation"} <= set(wide.columns) or len(wide) < 3:
        return None
    rho, p = stats.spearmanr(wide["attention"], wide["permutation"])
    return {"spearman": float(rho), "p_value": float(p), "features": int(len(wide))}
