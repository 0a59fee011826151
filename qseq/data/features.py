"""Causal features and forward targets for a panel.

Every feature at bar ``t`` uses bars ``<= t`` of the same ticker only (shifts by +1 and trailing
rolling windows; no centred windows, no back-fill, no full-sample statistic). Targets at bar
``t`` look forward (bars ``t+1 .. t+H``) and are only ever used as labels.

Feature names may carry a window suffix: ``parkinson_vol_10`` is Parkinson volatility over the
trailing 10 bars; without a suffix the window is 20.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from qseq import constants
from qseq.errors import ConfigError, DataError

DEFAULT_WINDOW = 20
_LN2 = math.log(2.0)


def _ticker_major(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.reorder_levels(["ticker", "date"]).sort_index()


def _same_ticker_prev(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame[col].groupby(level="ticker", sort=False).shift(1)


def _rolling(series: pd.Series, window: int, how: str) -> pd.Series:
    # Each ticker rolls on its own: one running sum over the whole ticker-major column would
    # carry floating-point state from one ticker into the next (a leak of about 1e-11).
    rolled = getattr(series.groupby(level="ticker", sort=False).rolling(window, min_periods=window),
                     how)()
    return rolled.droplevel(0).reindex(series.index)


def _rolling_mean(series: pd.Series, window: int) -> pd.Series:
    return _rolling(series, window, "mean")


def _rolling_std(series: pd.Series, window: int) -> pd.Series:
    return _rolling(series, window, "std")


def _need(frame: pd.DataFrame, cols: Sequence[str], feature: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"feature {feature!r} needs columns {missing}, which this data lacks "
            f"(has {list(frame.columns)}); choose other features"
        )


def log_return(frame: pd.DataFrame, window: int) -> pd.Series:
    """``ln(close_t / close_{t-1})``."""
    return np.log(frame["close"] / _same_ticker_prev(frame, "close"))


def log_volume_change(frame: pd.DataFrame, window: int) -> pd.Series:
    """``ln((1 + volume_t) / (1 + volume_{t-1}))``; the ``1 +`` keeps zero-volume days finite."""
    _need(frame, ["volume"], "log_volume_change")
    lv = np.log1p(frame["volume"])
    return lv - lv.groupby(level="ticker", sort=False).shift(1)


def volume_zscore(frame: pd.DataFrame, window: int) -> pd.Series:
    """z-score of ``ln(1 + volume_t)`` against the trailing ``window`` bars (including t)."""
    _need(frame, ["volume"], "volume_zscore")
    lv = np.log1p(frame["volume"])
    sd = _rolling_std(lv, window)
    return (lv - _rolling_mean(lv, window)) / sd.where(sd > 0)


def parkinson_bar_vol(frame: pd.DataFrame) -> pd.Series:
    """One-bar Parkinson volatility ``|ln(H/L)| / sqrt(4 ln 2)`` (daily units, not annualised)."""
    _need(frame, ["high", "low"], "parkinson_vol")
    return np.abs(np.log(frame["high"] / frame["low"])) / math.sqrt(4 * _LN2)


def parkinson_vol(frame: pd.DataFrame, window: int) -> pd.Series:
    """Parkinson (1980) volatility: ``sqrt(mean_w(ln(H/L)^2) / (4 ln 2))`` over trailing bars."""
    return np.sqrt(_rolling_mean(parkinson_bar_vol(frame) ** 2, window))


def garman_klass_vol(frame: pd.DataFrame, window: int) -> pd.Series:
    """Garman-Klass (1980): ``sqrt(mean_w(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))``."""
    _need(frame, ["open", "high", "low", "close"], "garman_klass_vol")
    hl = np.log(frame["high"] / frame["low"]) ** 2
    co = np.log(frame["close"] / frame["open"]) ** 2
    var = _rolling_mean(0.5 * hl - (2 * _LN2 - 1) * co, window)
    return np.sqrt(var.clip(lower=0.0))


FEATURES: dict[str, Callable[[pd.DataFrame, int], pd.Series]] = {
    "log_return": log_return,
    "log_volume_change": log_volume_change,
    "volume_zscore": volume_zscore,
    "parkinson_vol": parkinson_vol,
    "garman_klass_vol": garman_klass_vol,
}
TARGETS = constants.TARGETS


def parse_feature(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"([a-z_]+?)(?:_(\d+))?", name)
    if match and match.group(1) in FEATURES:
        window = int(match.group(2)) if match.group(2) else DEFAULT_WINDOW
        if window < 2:
            raise ConfigError(f"feature {name!r}: window must be >= 2")
        return match.group(1), window
    if name in FEATURES:
        return name, DEFAULT_WINDOW
    raise ConfigError(f"unknown feature {name!r}; choose from {sorted(FEATURES)} "
                      "(optionally with a window suffix, e.g. parkinson_vol_10)")


def compute_features(panel: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Features for every bar, indexed ``(ticker, date)`` (ticker-major), float64 columns
    ``names``. The first bars of each ticker are NaN where a feature has no past yet."""
    if not names:
        raise ConfigError("at least one feature is needed")
    frame = _ticker_major(panel)
    out = {}
    for name in names:
        base, window = parse_feature(name)
        out[name] = FEATURES[base](frame, window).astype("float64")
    return pd.DataFrame(out, index=frame.index)


def compute_targets(panel: pd.DataFrame, target: str, horizons: Sequence[int]) -> pd.DataFrame:
    """Forward targets indexed ``(ticker, date)``; column ``h{k}`` holds the target ``k`` bars
    after each bar (NaN where the future is not in the data).

    - ``log_return``: the one-bar log return of bar ``t+k``.
    - ``cum_log_return``: ``ln(close_{t+k} / close_t)``.
    - ``realized_vol``: one-bar Parkinson volatility of bar ``t+k``.
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of {list(TARGETS)}")
    frame = _ticker_major(panel)
    if target == "log_return":
        base = log_return(frame, DEFAULT_WINDOW)
    elif target == "realized_vol":
        base = parkinson_bar_vol(frame)
    else:
        base = np.log(frame["close"])
    grouped = base.groupby(level="ticker", sort=False)
    cols = {}
    for k in horizons:
        ahead = grouped.shift(-k)
        cols[f"h{k}"] = ahead - base if target == "cum_log_return" else ahead
    return pd.DataFrame(cols, index=frame.index).astype("float64")
