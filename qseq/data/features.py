"""Causal features and forward targets for a panel.

Every feature at bar ``t`` uses bars ``<= t`` of the same ticker only (shifts by +1 and trailing
rolling windows; no centred windows, no back-fill, no full-sample statistic). Targets at bar
``t`` look forward (bars ``t+1 .. t+H``) and are only ever used as labels.

Feature names may carry a window suffix: ``parkinson_vol_10`` is Parkinson volatility over the
trailing 10 bars; without a suffix the window is 20. ``log_parkinson_var_N`` and
``log_garman_klass_var_N`` (the log of the mean one-bar range variance over the trailing N bars)
also take ``N = 1``: the one-day proxy.
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


VARIANCE_FLOOR = 1e-10  # (0.001% a day)^2: a bar with high == low still has a finite log


def parkinson_bar_var(frame: pd.DataFrame) -> pd.Series:
    """One-bar Parkinson (1980) variance ``ln(H/L)^2 / (4 ln 2)`` (daily, not annualised)."""
    _need(frame, ["high", "low"], "parkinson variance")
    return np.log(frame["high"] / frame["low"]) ** 2 / (4 * _LN2)


def garman_klass_bar_var(frame: pd.DataFrame) -> pd.Series:
    """One-bar Garman-Klass (1980) variance ``0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2``; never
    negative for a consistent bar (``|ln(C/O)| <= ln(H/L)``)."""
    _need(frame, ["open", "high", "low", "close"], "garman_klass variance")
    hl = np.log(frame["high"] / frame["low"]) ** 2
    co = np.log(frame["close"] / frame["open"]) ** 2
    return 0.5 * hl - (2 * _LN2 - 1) * co


PROXIES: dict[str, Callable[[pd.DataFrame], pd.Series]] = dict(
    zip(constants.PROXIES, (parkinson_bar_var, garman_klass_bar_var), strict=True))


def bar_variance(frame: pd.DataFrame, proxy: str = "parkinson") -> pd.Series:
    """The one-bar range variance ``proxy`` (:data:`qseq.constants.PROXIES`), floored at
    :data:`VARIANCE_FLOOR` so its log is finite."""
    if proxy not in PROXIES:
        raise ConfigError(f"unknown variance proxy {proxy!r}; choose one of {list(PROXIES)}")
    return PROXIES[proxy](frame).clip(lower=VARIANCE_FLOOR)


def log_parkinson_var(frame: pd.DataFrame, window: int) -> pd.Series:
    """``ln(mean_w(Parkinson bar variance))`` over the trailing ``window`` bars (1: the day's)."""
    return np.log(_rolling_mean(bar_variance(frame, "parkinson"), window))


def log_garman_klass_var(frame: pd.DataFrame, window: int) -> pd.Series:
    """``ln(mean_w(Garman-Klass bar variance))`` over the trailing ``window`` bars."""
    return np.log(_rolling_mean(bar_variance(frame, "garman_klass"), window))


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


def excess_return(frame: pd.DataFrame, window: int) -> pd.Series:
    """Cross-sectional: the sum over the trailing ``window`` bars (default 1) of the ticker's
    log return minus the equal-weighted mean log return of the panel's tickers on that date.
    Known at each date's close (it reads that date's bars of every ticker, nothing later)."""
    lr = log_return(frame, window)
    excess = lr - lr.groupby(level="date").transform("mean")
    return excess if window == 1 else _rolling(excess, window, "sum")


def _news_column(frame: pd.DataFrame, column: str, feature: str) -> pd.Series:
    if column not in frame.columns:
        raise DataError(f"feature {feature!r} reads the daily sentiment table, which this run "
                        "lacks: pass --sentiment FILE (written by `qseq text sentiment`) or "
                        "sentiment= in the config")
    return frame[column].astype("float64")


def sentiment(frame: pd.DataFrame, window: int) -> pd.Series:
    """Mean headline sentiment of the session (``window`` 1, the default) or its trailing mean
    over ``window`` sessions (0 on sessions without news). Headlines count for the first session
    whose close comes after they were published (:func:`qseq.text.news.daily_sentiment`)."""
    day = _news_column(frame, "sentiment", "sentiment")
    return day if window == 1 else _rolling_mean(day, window)


def news_count(frame: pd.DataFrame, window: int) -> pd.Series:
    """``ln(1 + headlines)`` of the session, or of the headlines over the trailing ``window``
    sessions."""
    day = _news_column(frame, "news_count", "news_count")
    return np.log1p(day if window == 1 else _rolling(day, window, "sum"))


FEATURES: dict[str, Callable[[pd.DataFrame, int], pd.Series]] = {
    "log_return": log_return,
    "log_volume_change": log_volume_change,
    "volume_zscore": volume_zscore,
    "parkinson_vol": parkinson_vol,
    "garman_klass_vol": garman_klass_vol,
    "log_parkinson_var": log_parkinson_var,
    "log_garman_klass_var": log_garman_klass_var,
    "excess_return": excess_return,
    "sentiment": sentiment,
    "news_count": news_count,
}
ONE_BAR_OK = ("log_parkinson_var", "log_garman_klass_var", "excess_return", "sentiment",
              "news_count")  # window may be 1
# without a suffix; every other feature: DEFAULT_WINDOW
DEFAULT_WINDOWS = {"excess_return": 1, "sentiment": 1, "news_count": 1}
# features that read every ticker of the panel on each date (no single-ticker stream)
CROSS_SECTIONAL_FEATURES = ("excess_return",)
# features that read the daily news table joined to the panel, not the bars (no bar stream)
NEWS_FEATURES = ("sentiment", "news_count")
TARGETS = constants.TARGETS


def parse_feature(name: str) -> tuple[str, int]:
    match = re.fullmatch(r"([a-z_]+?)(?:_(\d+))?", name)
    if match and match.group(1) in FEATURES:
        base = match.group(1)
        window = int(match.group(2)) if match.group(2) else DEFAULT_WINDOWS.get(base, DEFAULT_WINDOW)
        smallest = 1 if match.group(1) in ONE_BAR_OK else 2
        if window < smallest:
            raise ConfigError(f"feature {name!r}: window must be >= {smallest}")
        return match.group(1), window
    if name in FEATURES:
        return name, DEFAULT_WINDOWS.get(name, DEFAULT_WINDOW)
    raise ConfigError(f"unknown feature {name!r}; choose from {sorted(FEATURES)} "
                      "(optionally with a window suffix, e.g. parkinson_vol_10)")


def mean_ahead(values: np.ndarray, horizons: Sequence[int]) -> np.ndarray:
    """[n, H]: the mean of ``values[t+1 .. t+h]`` of one series for each horizon h (NaN past
    the end, or where a value in that span is NaN)."""
    s = pd.Series(np.asarray(values, dtype=np.float64))
    return np.column_stack([s.rolling(h, min_periods=h).mean().shift(-h).to_numpy()
                            for h in horizons])


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


def compute_targets(panel: pd.DataFrame, target: str, horizons: Sequence[int],
                    proxy: str = "parkinson") -> pd.DataFrame:
    """Forward targets indexed ``(ticker, date)``; column ``h{k}`` holds the target ``k`` bars
    after each bar (NaN where the future is not in the data).

    - ``log_return``: the one-bar log return of bar ``t+k``.
    - ``cum_log_return``: ``ln(close_{t+k} / close_t)``.
    - ``realized_vol``: one-bar Parkinson volatility of bar ``t+k``.
    - ``variance``: the mean one-bar ``proxy`` variance of bars ``t+1 .. t+k`` (the variance
      of the next k days, per day).
    - ``excess_log_return`` / ``excess_cum_log_return``: ``log_return`` / ``cum_log_return``
      minus their equal-weighted mean over the panel's tickers with the same anchor date (the
      market-neutral part a cross-sectional model ranks).
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown target {target!r}; choose one of {list(TARGETS)}")
    if target.startswith("excess_"):
        raw = compute_targets(panel, target.removeprefix("excess_"), horizons, proxy)
        return raw - raw.groupby(level="date").transform("mean")
    frame = _ticker_major(panel)
    if target == "variance":  # each ticker's rows are contiguous in the ticker-major frame
        var = bar_variance(frame, proxy)
        codes = var.index.get_level_values("ticker")
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        parts = np.split(var.to_numpy(np.float64), starts[1:])
        return pd.DataFrame(np.vstack([mean_ahead(part, horizons) for part in parts]),
                            index=frame.index, columns=[f"h{k}" for k in horizons])
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
