"""Baseline detectors on the same scaled feature rows as the autoencoder.

- :class:`RollingZScore`: per ticker and feature, the z-score of each bar against the previous
  ``window`` bars; the bar score is the largest absolute z over features (with the calibrated
  combination, of each divided by its calibration 99th percentile). Needs no fitting.
- :class:`IsolationForestBaseline`: scikit-learn's IsolationForest on per-bar feature vectors
  from training rows; the score is ``-score_samples`` (higher = more anomalous).
- :func:`fit_pca_reconstruction`: PCA on flattened training windows, the linear analogue of the
  autoencoder, wrapped as a model so it is scored by exactly the same code
  (:mod:`qseq.anomaly.scores`).

Row-score baselines return ``[R]`` scores for the rows of a :class:`Windows` (NaN where a
score is undefined); :func:`row_score_frame` turns them into the tidy score frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from qseq.anomaly.scores import row_max
from qseq.data.windows import Windows, rows_covered
from qseq.models import ModelOutput


class RollingZScore:
    """max_f |x[t, f] - mean(x[t-w:t, f])| / std(x[t-w:t, f]), per ticker (causal); a feature
    with zero past variance has no z and is left out of the max."""

    def __init__(self, window: int = 60) -> None:
        self.window = window

    def fit(self, train: Windows) -> RollingZScore:
        return self

    def feature_scores(self, windows: Windows) -> np.ndarray:
        """[R, F] |z| of every row and feature (NaN where a feature has no z yet)."""
        out = np.full(windows.values.shape, np.nan)
        for k in np.unique(windows.row_ticker):
            idx = np.flatnonzero(windows.row_ticker == k)  # one ticker's rows, in date order
            x = pd.DataFrame(windows.values[idx], dtype=np.float64)
            past = x.shift(1).rolling(self.window, min_periods=self.window)
            sd = past.std()
            out[idx] = ((x - past.mean()) / sd.where(sd > 0)).abs().to_numpy()
        return out

    def row_scores(self, windows: Windows, scale: np.ndarray | None = None) -> np.ndarray:
        """[R] the max over features of :meth:`feature_scores` (each divided by ``scale`` [F]
        when given: the calibrated combination); NaN only where no feature has a z."""
        per = self.feature_scores(windows)
        return row_max(per if scale is None else per / scale)


class IsolationForestBaseline:
    """IsolationForest over per-bar feature vectors [F] of the training rows."""

    def __init__(self, n_estimators: int = 200, seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.seed = seed

    def fit(self, train: Windows) -> IsolationForestBaseline:
        from sklearn.ensemble import IsolationForest

        rows = train.values[rows_covered(train)]
        rows = rows[np.isfinite(rows).all(axis=1)]
        self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed)
        self.forest_.fit(rows)
        return self

    def row_scores(self, windows: Windows) -> np.ndarray:
        out = np.full(len(windows.values), np.nan)
        ok = np.isfinite(windows.values).all(axis=1)
        out[ok] = -self.forest_.score_samples(windows.values[ok])
        return out


class PCAReconstruction(nn.Module):
    """Linear autoencoder from a PCA fit: x_hat = mean + (x - mean) W^T W on flattened windows.

    Input x [B, T, F] (ticker ignored) -> ModelOutput(y_hat=x_hat [B, T, F]).
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, lookback: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))  # [T * F]
        self.register_buffer("components", torch.as_tensor(components, dtype=torch.float32))
        self.lookback = lookback

    def forward(self, x: torch.Tensor, ticker: torch.Tensor | None = None) -> ModelOutput:
        flat = x.reshape(len(x), -1) - self.mean  # [B, T * F]
        recon = (flat @ self.components.T) @ self.components + self.mean
        return ModelOutput(y_hat=recon.view_as(x))


def fit_pca_reconstruction(train: Windows, n_components: int, seed: int = 0) -> PCAReconstruction:
    """PCA with ``n_components`` on the flattened training windows [N, T * F]."""
    from sklearn.decomposition import PCA

    flat = np.asarray(train.x, dtype=np.float64).reshape(len(train), -1)
    pca = PCA(n_components=min(n_components, flat.shape[1]), random_state=seed).fit(flat)
    return PCAReconstruction(pca.mean_, pca.components_, train.lookback)


def row_score_frame(windows: Windows, scores: np.ndarray) -> pd.DataFrame:
    """Rows with a finite score -> frame date, ticker, score (ticker then date order)."""
    ok = np.flatnonzero(np.isfinite(scores))
    return pd.DataFrame({
        "date": windows.row_date[ok],
        "ticker": np.asarray(windows.tickers, dtype=object)[windows.row_ticker[ok]],
        "score": scores[ok],
    })
