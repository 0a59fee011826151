"""Anomaly scores from reconstruction errors, normalised per ticker on the training period.

For bar ``r`` of ticker ``k`` and feature ``f``, with ``e[r, f]`` the squared reconstruction
error averaged over the windows that contain the bar:

    contribution[r, f] = e[r, f] / median_{training bars of k}(e[., f])
    score[r]           = mean_f contribution[r, f]

so a score of 1 is a typical training bar of that ticker whatever its volatility, and the
contributions say which feature (price, volume, volatility) drove a high score. The window
score is the window's mean squared error over the median training window error of its ticker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.data.windows import Windows
from qseq.errors import DataError


@dataclass
class TickerNormaliser:
    """Per-ticker, per-column scales: the median of each ticker's training errors.

    Tickers with fewer than ``min_rows`` training rows (rare or new tickers) use the median
    pooled over all tickers. Fitted state ends in ``_``.
    """

    min_rows: int = 20
    scale_: np.ndarray | None = None  # [K, C]

    def fit(self, errors: np.ndarray, ticker: np.ndarray, n_tickers: int) -> TickerNormaliser:
        """errors: [M, C] training errors (finite), ticker: [M] ids in [0, n_tickers)."""
        errors = np.asarray(errors, dtype=np.float64).reshape(len(ticker), -1)
        if len(errors) < self.min_rows:
            raise DataError(f"only {len(errors)} training bars to normalise scores "
                            f"(need >= {self.min_rows}); use a longer training period")
        pooled = np.median(errors, axis=0)  # [C]
        scale = np.tile(pooled, (n_tickers, 1))
        for k in range(n_tickers):
            mine = errors[ticker == k]
            if len(mine) >= self.min_rows:
                scale[k] = np.median(mine, axis=0)
        floor = np.maximum(pooled, 1e-12)
        self.scale_ = np.where(scale > 1e-12, scale, floor)
        return self

    def transform(self, errors: np.ndarray, ticker: np.ndarray) -> np.ndarray:
        """[M, C] (or [M]) errors -> errors divided by their ticker's scale."""
        errors = np.asarray(errors, dtype=np.float64)
        scale = self.scale_[ticker]
        return errors / (scale if errors.ndim == 2 else scale[:, 0])


def score_frame(
    windows: Windows,
    row_error: np.ndarray,
    window_error: np.ndarray,
    bar_norm: TickerNormaliser,
    window_norm: TickerNormaliser,
) -> pd.DataFrame:
    """Tidy per-bar scores for the rows covered by ``windows``.

    row_error: [R, F] (NaN for rows in no window), window_error: [N] (one per anchor).
    Returns columns date, ticker, score, window_score (NaN on bars that end no window) and one
    contribution column per feature, sorted by ticker then date.
    """
    covered = np.flatnonzero(np.isfinite(row_error).all(axis=1))
    ticker = windows.row_ticker[covered]
    contrib = bar_norm.transform(row_error[covered], ticker)  # [M, F]
    win = np.full(len(windows.values), np.nan)
    win[windows.anchors] = window_norm.transform(window_error, windows.ticker)
    frame = pd.DataFrame({
        "date": windows.row_date[covered],
        "ticker": np.asarray(windows.tickers, dtype=object)[ticker],
        "score": contrib.mean(axis=1),
        "window_score": win[covered],
    })
    for j, name in enumerate(windows.feature_names):
        frame[name] = contrib[:, j]
    return frame.reset_index(drop=True)


def fit_normalisers(model, train: Windows, device="cpu") -> tuple[TickerNormaliser, TickerNormaliser]:
    """Per-ticker bar and window normalisers from ``model``'s errors on the training windows."""
    from qseq.anomaly.training import reconstruction_errors

    row_err, win_err = reconstruction_errors(model, train, device)
    covered = np.flatnonzero(np.isfinite(row_err).all(axis=1))
    k = len(train.tickers)
    bar = TickerNormaliser().fit(row_err[covered], train.row_ticker[covered], k)
    window = TickerNormaliser().fit(win_err[:, None], train.ticker, k)
    return bar, window


def score_windows(model, windows: Windows, bar_norm: TickerNormaliser,
                  window_norm: TickerNormaliser, device="cpu") -> pd.DataFrame:
    """Per-bar score frame (see :func:`score_frame`) of ``model`` over scaled ``windows``."""
    from qseq.anomaly.training import reconstruction_errors

    row_err, win_err = reconstruction_errors(model, windows, device)
    return score_frame(windows, row_err, win_err, bar_norm, window_norm)
