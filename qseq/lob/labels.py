"""Order-book targets: the DeepLOB smoothed mid-price direction (down / stationary / up) and
the mid-price log return, for several horizons ``k`` (in samples) at once.

Direction (Ntakaris et al. 2018, FI-2010; Zhang, Zohren and Roberts 2019, DeepLOB)::

    m_plus(t)  = mean(mid[t+1 .. t+k])
    l(t)       = (m_plus(t) - ref(t)) / ref(t),  ref = mid[t]  (reference="current")
                                                 ref = m_minus(t) = mean(mid[t-k+1 .. t])  ("past")
    class      = 0 (down) if l < -alpha, 2 (up) if l > alpha, else 1 (stationary)

A label is NaN where its span leaves the data (``t + k`` past the end; for "past" also
``t - k + 1`` before the start). ``alpha="auto"`` picks, per horizon, the 1/3 quantile of
``|l|`` over the training rows only, so about a third of the training labels are stationary
and the rest split between up and down; the same threshold is then applied to every row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qseq.config import LOB_REFERENCES, LOB_TARGETS
from qseq.config import check_choice as _choice
from qseq.data.features import mean_ahead
from qseq.errors import ConfigError, DataError

DOWN, STATIONARY, UP = 0, 1, 2
CLASSES = ("down", "stationary", "up")
REFERENCES = LOB_REFERENCES
TARGETS = LOB_TARGETS
AUTO = "auto"
AUTO_QUANTILE = 1 / 3  # share of stationary training labels under alpha="auto"


def check_horizons(horizons: int | Sequence[int]) -> tuple[int, ...]:
    """Horizons as a tuple of positive ints (in samples); a ConfigError names a bad one."""
    ks = (horizons,) if isinstance(horizons, (int, np.integer)) else tuple(horizons)
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1]
    if not ks or bad:
        raise ConfigError(f"horizons k must be integers >= 1 (samples ahead), got {list(ks)}; "
                          "for example [10, 20, 50]")
    return tuple(int(k) for k in ks)


def smoothed_change(mid: np.ndarray, horizons: int | Sequence[int], *,
                    reference: str = "current") -> np.ndarray:
    """[S, K] relative change ``l`` of the smoothed future mid (see the module docstring);
    mid: [S] dollars. NaN where the span leaves the data or touches a NaN mid."""
    _choice("label reference", reference, REFERENCES)
    ks = check_horizons(horizons)
    mid = np.asarray(mid, dtype=np.float64)
    plus = mean_ahead(mid, ks)  # [S, K] mean(mid[t+1 .. t+k])
    if reference == "current":
        ref = np.broadcast_to(mid[:, None], plus.shape)
    else:  # m_minus(t) = mean(mid[t-k+1 .. t])
        series = pd.Series(mid)
        ref = np.column_stack([series.rolling(k, min_periods=k).mean().to_numpy() for k in ks])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (plus - ref) / ref


def fit_alpha(change: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """[K] thresholds from training rows only: the 1/3 quantile of ``|l|`` per horizon.

    change: [S, K] from :func:`smoothed_change`; train_rows: [S] bool mask or int positions of
    the rows whose labels lie wholly in the training data. Rows outside are never read.
    """
    train = np.abs(np.asarray(change, dtype=np.float64)[train_rows])  # [N, K]
    out = np.empty(train.shape[1])
    for j in range(train.shape[1]):
        known = train[np.isfinite(train[:, j]), j]
        if len(known) == 0:
            raise DataError(f"no training labels for horizon column {j} to fit alpha='auto'; "
                            "use a longer training segment or a shorter horizon")
        out[j] = np.quantile(known, AUTO_QUANTILE)
    return out


def direction_labels(change: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
    """[S, K] float32 classes 0 (down), 1 (stationary), 2 (up), NaN where ``change`` is NaN.

    alpha: one threshold, or [K] per horizon (relative change, e.g. 2e-5 = 0.2 bps)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if np.any(~np.isfinite(alpha)) or np.any(alpha < 0):
        raise ConfigError(f"alpha must be finite and >= 0 (or 'auto'), got {alpha.tolist()}")
    out = np.where(change < -alpha, DOWN, np.where(change > alpha, UP, STATIONARY))
    return np.where(np.isfinite(change), out, np.nan).astype(np.float32)


def direction_targets(mid: np.ndarray, horizons: int | Sequence[int], *,
                      alpha: float | str = AUTO, train_rows: np.ndarray | None = None,
                      reference: str = "current") -> tuple[np.ndarray, np.ndarray]:
    """Smoothed direction labels [S, K] float32 and the thresholds used [K].

    ``alpha="auto"`` fits the thresholds on ``train_rows`` only (:func:`fit_alpha`)."""
    change = smoothed_change(mid, horizons, reference=reference)
    thresholds = resolve_alpha(change, alpha, train_rows)
    return direction_labels(change, thresholds), thresholds


def resolve_alpha(change: np.ndarray, alpha: float | str,
                  train_rows: np.ndarray | None = None) -> np.ndarray:
    """[K] thresholds: ``alpha`` for every horizon, or fit on ``train_rows`` when "auto"."""
    if isinstance(alpha, str):
        if alpha != AUTO:
            raise ConfigError(f"alpha must be a number >= 0 or 'auto', got {alpha!r}")
        if train_rows is None:
            raise ConfigError("alpha='auto' needs the training rows (train_rows) to fit on")
        return fit_alpha(change, train_rows)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
        raise ConfigError(f"alpha must be a number >= 0 or 'auto', got {alpha!r}")
    return np.full(change.shape[1], float(alpha))


def return_targets(mid: np.ndarray, horizons: int | Sequence[int]) -> np.ndarray:
    """[S, K] mid-price log return ``log(mid[t+k] / mid[t])``; NaN past the end."""
    ks = check_horizons(horizons)
    mid = np.asarray(mid, dtype=np.float64)
    out = np.full((len(mid), len(ks)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j, k in enumerate(ks):
            out[: max(len(mid) - k, 0), j] = np.log(mid[k:] / mid[:-k])
    return out


def class_counts(labels: np.ndarray) -> np.ndarray:
    """[K, 3] int64 count of each class per horizon; labels [N, K] (NaN ignored)."""
    labels = np.asarray(labels)
    return np.stack([(labels == c).sum(axis=0) for c in range(len(CLASSES))], axis=1).astype(np.int64)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """[K, 3] inverse-frequency weights from training labels [N, K], mean 1 over the classes
    present per horizon; a class absent from training gets weight 0."""
    counts = class_counts(labels).astype(np.float64)
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    present = (counts > 0).sum(axis=1, keepdims=True)
    total = inverse.sum(axis=1, keepdims=True)
    return np.divide(inverse * present, total, out=np.zeros_like(inverse), where=total > 0)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits: a softmax over the last axis, [..., C] -> [..., C]."""
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)
