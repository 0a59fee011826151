"""Causal anomaly scores from reconstruction errors, normalised per ticker and per feature by
the training period and by a trailing (causal) error scale.

For bar ``t`` of ticker ``k`` and feature ``f``, with ``e[t, f]`` the squared reconstruction
error of bar ``t`` as the *last* bar of the window that ends on it (so it uses bars ``<= t``):

    c[t, f]            = e[t, f] / mean_{training bars of k}(e[., f])     (1 = typical training bar)
    rho[t, f]          = mean(c[t-W .. t-1, f])   over the W previous scored bars of k
                         (1, the training scale, until W such bars exist; W = 0: always 1)
    contribution[t, f] = c[t, f] / rho[t, f]
    score[t]           = max_f contribution[t, f]      (``combine="mean"``: the mean over f)

``combine="calibrated"`` first divides each feature's contribution by its 99% quantile over the
latest bars of the normal period (:func:`feature_scale` over :func:`latest_rows`: the
calibration bars, and at least ``MIN_UNIT_BARS`` so that the quantile rests on ten or more
exceedances; the contribution columns are then in those units) and takes the max: a
heavy-tailed feature (volume innovations on ordinary news days) no longer outshouts a rarer one
(a return-only shift).

The trailing scale makes the score relative to the error level of the recent regime, so a calm
calibration period does not leave a turbulent later period flagged wholesale, and it uses only
bars before ``t``. It is a mean, not a median, on purpose: one large error raises the scale of
the bars after it, so the echo of a one-bar spike (the reverting bar) scores lower than the
spike. Until a ticker has ``W`` scored bars in the data given, its scale is the training scale.
The contributions say which feature (price, volume, volatility) drove a high score. The window
score is the window's mean squared error over the median training window error of its ticker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.config import SCORE_COMBINE as COMBINE
from qseq.data.windows import Windows
from qseq.errors import ConfigError, DataError

CALIBRATION_QUANTILE = 0.99  # of each feature's latest normal contributions: "calibrated" units
MIN_UNIT_BARS = 1000  # bars behind that quantile (about ten exceedances)


@dataclass
class TickerNormaliser:
    """Per-ticker, per-column scales: the median (or ``stat="mean"``) of each ticker's training
    errors.

    Tickers with fewer than ``min_rows`` training rows (rare or new tickers) use the statistic
    pooled over all tickers. Fitted state ends in ``_``.
    """

    min_rows: int = 20
    stat: str = "median"
    scale_: np.ndarray | None = None  # [K, C]

    def fit(self, errors: np.ndarray, ticker: np.ndarray, n_tickers: int) -> TickerNormaliser:
        """errors: [M, C] training errors (finite), ticker: [M] ids in [0, n_tickers)."""
        errors = np.asarray(errors, dtype=np.float64).reshape(len(ticker), -1)
        if len(errors) < self.min_rows:
            raise DataError(f"only {len(errors)} training bars to normalise scores "
                            f"(need >= {self.min_rows}); use a longer training period")
        reduce = np.mean if self.stat == "mean" else np.median
        pooled = reduce(errors, axis=0)  # [C]
        scale = np.tile(pooled, (n_tickers, 1))
        for k in range(n_tickers):
            mine = errors[ticker == k]
            if len(mine) >= self.min_rows:
                scale[k] = reduce(mine, axis=0)
        floor = np.maximum(pooled, 1e-12)
        self.scale_ = np.where(scale > 1e-12, scale, floor)
        return self

    def transform(self, errors: np.ndarray, ticker: np.ndarray) -> np.ndarray:
        """[M, C] (or [M]) errors -> errors divided by their ticker's scale."""
        errors = np.asarray(errors, dtype=np.float64)
        scale = self.scale_[ticker]
        return errors / (scale if errors.ndim == 2 else scale[:, 0])


def trailing_scale(values: np.ndarray, ticker: np.ndarray, window: int) -> np.ndarray:
    """Causal trailing mean per ticker: ``out[i] = mean(values[i-window .. i-1])`` over the
    previous ``window`` rows of the same ticker, 1.0 where fewer than ``window`` exist.

    values: [M, C] finite, ticker: [M]; rows sorted by ticker then date (each ticker's rows
    contiguous, in time order). ``window = 0`` gives all ones. Returns [M, C].
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.ones_like(values)
    if window <= 0 or len(values) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, ticker[1:] != ticker[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], len(values)], strict=True):
        block = values[start:stop]
        if len(block) <= window:
            continue
        csum = np.concatenate([np.zeros((1, block.shape[1])), np.cumsum(block, axis=0)])
        # row i (i >= window) averages block[i - window : i]
        out[start + window:stop] = (csum[window:-1] - csum[:-window - 1]) / window
    return out


def combine_contributions(contrib: np.ndarray, how: str = "max") -> np.ndarray:
    """[M, C] per-feature contributions -> [M] bar scores (``mean`` over features, else the
    ``max``; ``calibrated`` contributions are already in calibrated units)."""
    if how not in COMBINE:
        raise ConfigError(f"unknown score combination {how!r}; choose one of {list(COMBINE)}")
    return contrib.mean(axis=1) if how == "mean" else contrib.max(axis=1)


def feature_scale(contrib: np.ndarray, q: float = CALIBRATION_QUANTILE) -> np.ndarray:
    """[C] each column's ``q`` quantile over the rows of ``contrib`` [M, C] (the calibration
    bars' per-feature contributions or scores; NaN rows ignored), floored at a tiny positive
    value: the units of ``combine="calibrated"``."""
    contrib = np.asarray(contrib, dtype=np.float64)
    if not np.isfinite(contrib).any(axis=0).all():
        raise DataError("a feature has no finite score on the calibration bars; give more "
                        "history before the end of the normal period")
    return np.maximum(np.nanquantile(contrib, q, axis=0), 1e-12)


def latest_rows(dates: np.ndarray, at_least: int) -> np.ndarray:
    """Positions of the rows of ``dates`` [N] on the latest dates that together hold at least
    ``at_least`` rows (whole dates; every row when there are fewer)."""
    dates = np.asarray(dates)
    if len(dates) <= at_least:
        return np.arange(len(dates))
    cutoff = np.sort(dates)[len(dates) - at_least]
    return np.flatnonzero(dates >= cutoff)


def fit_units(frame: pd.DataFrame, names, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Calibrated units from a raw score frame (:func:`score_frame` combined by ``max``):
    each contribution column of ``names`` over its :func:`feature_scale` on the rows at
    positions ``rows``. Returns the frame in those units (``score`` their max) and the [C]
    scale that :func:`score_frame` takes for later data."""
    names = list(names)
    scale = feature_scale(frame[names].to_numpy()[rows])
    out = frame.copy()
    out[names] = out[names].to_numpy() / scale
    out["score"] = out[names].to_numpy().max(axis=1)
    return out, scale


def row_max(per: np.ndarray) -> np.ndarray:
    """[M] the max over the columns of ``per`` [M, C], ignoring NaN; NaN where a row has none
    (no all-NaN warning)."""
    none = np.isnan(per).all(axis=1)
    return np.where(none, np.nan, np.where(np.isnan(per), -np.inf, per).max(axis=1))


def score_frame(
    windows: Windows,
    bar_error: np.ndarray,
    window_error: np.ndarray,
    bar_norm: TickerNormaliser,
    window_norm: TickerNormaliser,
    *,
    scale_window: int = 60,
    combine: str = "max",
    scale: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy per-bar scores for the bars that end a window of ``windows`` (one row per anchor).

    bar_error: [N, F] squared error of each anchor bar as the last bar of its window,
    window_error: [N] mean squared error of each window, scale: [F] the units of
    ``combine="calibrated"`` (:func:`feature_scale`; required there, ignored otherwise).
    Returns columns date, ticker, score, window_score and one contribution column per
    feature, sorted by ticker then date.
    """
    anchors = windows.anchors
    if len(anchors) > 1 and np.any(np.diff(anchors) <= 0):
        raise DataError("windows must be in row order (ticker, then date) to be scored")
    ticker = windows.ticker
    contrib = bar_norm.transform(bar_error, ticker)  # [N, F]
    contrib = contrib / trailing_scale(contrib, ticker, scale_window)
    if combine == "calibrated":
        if scale is None:
            raise ConfigError("score_combine 'calibrated' needs each feature's calibration "
                              "scale (fit the detector first)")
        contrib = contrib / np.asarray(scale, dtype=np.float64)
    frame = pd.DataFrame({
        "date": windows.anchor_date,
        "ticker": np.asarray(windows.tickers, dtype=object)[ticker],
        "score": combine_contributions(contrib, combine),
        "window_score": window_norm.transform(window_error, ticker),
    })
    for j, name in enumerate(windows.feature_names):
        frame[name] = contrib[:, j]
    return frame.reset_index(drop=True)


def fit_normalisers(model, train: Windows, device="cpu") -> tuple[TickerNormaliser, TickerNormaliser]:
    """Per-ticker bar (mean of the last-bar errors) and window (median) normalisers from
    ``model``'s errors on the training windows."""
    from qseq.anomaly.training import last_bar_errors

    bar_err, win_err = last_bar_errors(model, train, device)
    k = len(train.tickers)
    bar = TickerNormaliser(stat="mean").fit(bar_err, train.ticker, k)
    window = TickerNormaliser().fit(win_err[:, None], train.ticker, k)
    return bar, window


def score_windows(model, windows: Windows, bar_norm: TickerNormaliser,
                  window_norm: TickerNormaliser, device="cpu", *, scale_window: int = 60,
                  combine: str = "max", scale: np.ndarray | None = None) -> pd.DataFrame:
    """Per-bar score frame (see :func:`score_frame`) of ``model`` over scaled ``windows``."""
    from qseq.anomaly.training import last_bar_errors

    bar_err, win_err = last_bar_errors(model, windows, device)
    return score_frame(windows, bar_err, win_err, bar_norm, window_norm,
                       scale_window=scale_window, combine=combine, scale=scale)
