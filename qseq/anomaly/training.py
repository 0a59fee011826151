"""Training and running a reconstruction model with the forecasting machinery, unchanged.

:func:`qseq.train.fit_model` minimises ``loss(y_hat, y)`` over windows. A reconstruction is the
special case ``y_hat = x_hat - x`` (flattened to [B, T * F]) against all-zero targets, which is
exactly ``loss(x_hat, x)``; ``last_bar_weight`` w scales the last bar's residual by sqrt(w), so
its squared error weighs w times another bar's (the last bar is the one a window scores). The
zero targets are a zero-stride view (one float of memory for
any number of rows), so windows stay strided views of one row array.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from qseq.data.windows import Windows
from qseq.models import ModelOutput
from qseq.runtime import configure_torch_threads
from qseq.train import EpochLog, TrainConfig, TrainResult, WindowBatches, fit_model, resolve_device


class ReconstructionResidual(nn.Module):
    """Wraps an autoencoder for :func:`fit_model`: forward returns ``x_hat - x`` [B, T * F],
    the last bar's residual times ``sqrt(last_bar_weight)``."""

    def __init__(self, autoencoder: nn.Module, last_bar_weight: float = 1.0) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.last_bar_weight = last_bar_weight

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        out = self.autoencoder(x, ticker)
        residual = out.y_hat - x  # [B, T, F]
        if self.last_bar_weight != 1.0:  # squared error of the last bar weighted by w
            scale = torch.ones(x.shape[1], 1, dtype=x.dtype, device=x.device)
            scale[-1] = self.last_bar_weight ** 0.5
            residual = residual * scale
        return ModelOutput(y_hat=residual.flatten(1))  # [B, T * F]


def zero_targets(windows: Windows) -> Windows:
    """``windows`` with targets [R, T * F] of zeros, as a zero-stride view (no memory)."""
    width = windows.lookback * windows.values.shape[1]
    zeros = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.float32),
                                            (len(windows.values), width), (0, 0), writeable=True)
    return windows.with_values(windows.values, zeros)


def fit_autoencoder(
    model: nn.Module,
    train: Windows,
    val: Windows | None,
    config: TrainConfig,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    on_epoch: Callable[[EpochLog], None] | None = None,
    last_bar_weight: float = 1.0,
) -> TrainResult:
    """Train ``model`` (an autoencoder) in place to reconstruct the scaled ``train`` windows,
    with early stopping on ``val`` reconstruction loss (best weights restored); the last bar of
    each window weighs ``last_bar_weight`` times another bar in both losses. An
    :class:`~qseq.models.ensemble.Ensemble` of autoencoders trains member k as a lone fit with
    seed ``seed + k`` (one after another)."""
    from qseq.models.ensemble import Ensemble

    if isinstance(model, Ensemble):
        wrapped = Ensemble([ReconstructionResidual(m, last_bar_weight) for m in model.members])
    else:
        wrapped = ReconstructionResidual(model, last_bar_weight)
    return fit_model(wrapped, zero_targets(train),
                     zero_targets(val) if val is not None else None, config, seed=seed,
                     device=device, on_epoch=on_epoch)


@torch.no_grad()
def reconstruction_errors(
    model: nn.Module, windows: Windows, device: str | torch.device = "cpu", batch_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Squared reconstruction errors of every window, per window and per bar.

    Returns ``row_error [R, F]``: for each row and feature the mean of ``(x_hat - x)^2`` over
    every window of ``windows`` that contains the row (NaN for rows in no window), and
    ``window_error [N]``: the mean of ``(x_hat - x)^2`` over each window's T bars and F features.
    Units: scaled features squared.
    """
    configure_torch_threads()  # qseq's thread policy (qseq.runtime)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model.to(dev).eval()
    data = WindowBatches(windows.with_values(windows.values, windows.targets[:, :0]), dev)
    n_rows, n_feat = windows.values.shape
    total = torch.zeros(n_rows, n_feat, dtype=torch.float64, device=dev)  # [R, F]
    count = torch.zeros(n_rows, dtype=torch.float64, device=dev)  # [R]
    window_error = []
    for start in range(0, len(data), batch_size):
        anchors = data.anchors[start:start + batch_size]
        x, _, ticker = data.gather(anchors)  # [B, T, F]
        err = (model(x, ticker).y_hat - x).pow(2)  # [B, T, F]
        rows = (anchors[:, None] + data.offsets).reshape(-1)  # [B * T]
        total.index_add_(0, rows, err.reshape(-1, n_feat).double())
        count.index_add_(0, rows, torch.ones_like(rows, dtype=torch.float64))
        window_error.append(err.mean(dim=(1, 2)).cpu())
    row_error = (total / count[:, None]).cpu().numpy()  # NaN where count == 0
    window = torch.cat(window_error).numpy() if window_error else np.zeros(0, dtype=np.float32)
    return row_error, window.astype(np.float64)


@torch.no_grad()
def last_bar_errors(
    model: nn.Module, windows: Windows, device: str | torch.device = "cpu", batch_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Causal squared reconstruction errors: each window's error on its last bar, and overall.

    Returns ``bar_error [N, F]``: ``(x_hat - x)^2`` of the anchor bar of each window (the bar
    the window ends on, so it depends on bars ``<= anchor`` only), and ``window_error [N]``:
    the mean of ``(x_hat - x)^2`` over the window's T bars and F features. Units: scaled
    features squared.
    """
    configure_torch_threads()  # qseq's thread policy (qseq.runtime)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model.to(dev).eval()
    data = WindowBatches(windows.with_values(windows.values, windows.targets[:, :0]), dev)
    bar_error, window_error = [], []
    for start in range(0, len(data), batch_size):
        x, _, ticker = data.gather(data.anchors[start:start + batch_size])  # [B, T, F]
        err = (model(x, ticker).y_hat - x).pow(2)  # [B, T, F]
        bar_error.append(err[:, -1].double().cpu())
        window_error.append(err.mean(dim=(1, 2)).double().cpu())
    n_feat = windows.values.shape[1]
    if not bar_error:
        return np.zeros((0, n_feat)), np.zeros(0)
    return torch.cat(bar_error).numpy(), torch.cat(window_error).numpy()
