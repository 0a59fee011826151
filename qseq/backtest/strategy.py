"""Positions from forecasts and a vectorised, one-bar-lagged backtest with costs.

Conventions (all frames are indexed by bar date, one column per ticker):

- A position (portfolio weight) in row ``t`` is decided at the close of bar ``t`` and earns the
  return of the NEXT bar ``t+1``; it never earns the return of the bar it was decided on.
- Bar returns come in as one-bar LOG returns and are converted to simple returns
  (``exp(r) - 1``) for P&L, because simple returns add across tickers.
- Turnover is ``sum_i |w_i,t - w_i,t-1|`` on target weights (price drift between rebalances is
  ignored), including the initial entry from a flat book; costs are basis points of turnover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qseq.config import RULES
from qseq.errors import ConfigError, DataError

RESULT_COLUMNS = ("gross_return", "cost", "net_return", "turnover", "gross_exposure", "equity")


def trailing_vol(log_returns: pd.Series | pd.DataFrame, window: int = 20) -> pd.Series | pd.DataFrame:
    """Standard deviation of the last ``window`` one-bar log returns, bars ``t-window+1 .. t``
    (known at the close of ``t``), in daily log-return units; NaN until ``window`` bars exist."""
    if window < 2:
        raise ConfigError(f"trailing_vol window must be >= 2, got {window}")
    return log_returns.rolling(window, min_periods=window).std()


def signal_positions(
    signal: pd.Series,
    rule: str = "sign",
    *,
    threshold: float = 0.0,
    vol: pd.Series | None = None,
    scale: float = 1.0,
    cap: float = 1.0,
    long_only: bool = False,
) -> pd.Series:
    """Single-ticker position (weight) per decision date from a forecast ``signal`` [dates].

    - ``sign``: ``sign(signal)``.
    - ``threshold``: ``sign(signal)`` where ``|signal| >= threshold``, else flat.
    - ``vol_scaled``: ``scale * signal / vol``; ``vol`` [dates] is a forecast or trailing
      volatility in the signal's units (e.g. :func:`trailing_vol` of log returns), aligned on
      the signal's index. Dates where ``vol`` is NaN are flat; a negative or zero ``vol`` raises.

    Every rule is then clipped to ``[-cap, cap]``; ``long_only`` sets short positions to 0.
    NaN signals give a flat (0) position. Returns a float Series on the signal's index.
    """
    if rule not in RULES:
        raise ConfigError(f"unknown position rule {rule!r}; choose one of {list(RULES)}")
    if not cap > 0:
        raise ConfigError(f"position cap must be > 0, got {cap}")
    if threshold < 0:
        raise ConfigError(f"threshold must be >= 0, got {threshold}")
    sig = signal.astype("float64")
    if rule == "sign":
        pos = np.sign(sig)
    elif rule == "threshold":
        pos = np.sign(sig).where(sig.abs() >= threshold, 0.0)
    else:
        if vol is None:
            raise ConfigError("rule 'vol_scaled' needs vol= (a forecast or trailing volatility series)")
        v = vol.astype("float64").reindex(sig.index)
        bad = v[v <= 0]
        if len(bad):
            raise DataError(f"vol must be > 0 for rule 'vol_scaled'; got {bad.iloc[0]} at {bad.index[0]}")
        pos = scale * sig / v
    pos = pos.clip(-cap, cap)
    if long_only:
        pos = pos.clip(lower=0.0)
    return pos.fillna(0.0).rename(signal.name)


def cross_sectional_positions(signals: pd.DataFrame, k: int, *, long_only: bool = False) -> pd.DataFrame:
    """Rank the tickers' signals on each date [dates x tickers] and hold the top/bottom ``k``.

    - long-short (default): ``+0.5/k`` on each of the ``k`` highest signals and ``-0.5/k`` on
      each of the ``k`` lowest: dollar neutral, gross exposure 1. Needs ``2k`` valid (non-NaN)
      signals on the date, otherwise the whole date is flat (all 0).
    - ``long_only``: ``1/k`` on each of the ``k`` highest; needs ``k`` valid signals, else flat.

    Ties are split, not broken by column order: tickers tied at a selection boundary share the
    remaining slots equally (with 3 tickers tied for the last 2 long slots, each gets 2/3 of a
    slot). A ticker can therefore be partly long and partly short when ties span the middle, and
    its weight is the net: identical signals on every ticker give all-zero positions. NaN
    signals never get a position.
    """
    if not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"k (tickers per side) must be a positive integer, got {k!r}")
    sig = signals.astype("float64")
    valid = sig.notna()
    n_valid = valid.sum(axis=1).to_numpy()[:, None]  # [D, 1]
    r_min = sig.rank(axis=1, method="min").to_numpy()  # 1 = lowest; NaN stays NaN
    r_max = sig.rank(axis=1, method="max").to_numpy()
    n_tied = r_max - r_min + 1
    n_above = n_valid - r_max  # strictly greater
    n_below = r_min - 1  # strictly smaller
    long_frac = np.clip((k - n_above) / n_tied, 0.0, 1.0)
    if long_only:
        weights = long_frac / k
        enough = n_valid >= k
    else:
        short_frac = np.clip((k - n_below) / n_tied, 0.0, 1.0)
        weights = (long_frac - short_frac) * (0.5 / k)
        enough = n_valid >= 2 * k
    weights = np.where(enough & valid.to_numpy(), weights, 0.0)
    return pd.DataFrame(weights, index=signals.index, columns=signals.columns)


def buy_and_hold(dates: pd.Index, tickers: Sequence[str]) -> pd.DataFrame:
    """Buy-and-hold positions [dates x tickers]: weight 1 for one ticker, ``1/n`` each for a panel.

    Weights are constant targets; with turnover measured on target weights only the initial
    entry trades (drift between bars is not rebalanced or charged)."""
    if len(tickers) == 0:
        raise ConfigError("buy_and_hold needs at least one ticker")
    return pd.DataFrame(1.0 / len(tickers), index=pd.Index(dates), columns=list(tickers))


def backtest(
    positions: pd.DataFrame,
    log_returns: pd.DataFrame,
    *,
    cost_bps: float = 0.0,
    slippage_bps: float = 0.0,
) -> pd.DataFrame:
    """Per-bar P&L of ``positions`` [dates x tickers] against one-bar ``log_returns`` [dates x tickers].

    Row ``t`` of ``positions`` is decided at the close of ``t`` and is held over the next bar of
    ``log_returns``. The result has one row per return bar from the bar after the first decision
    date to the bar after the last decision date (bars that exist in ``log_returns``), with:

    - ``gross_return``: ``sum_i w_i,t-1 * (exp(r_i,t) - 1)`` (simple return of the book),
    - ``turnover``: ``sum_i |w_i,t-1 - w_i,t-2|`` (the trade made at the previous close,
      including the initial entry from flat; the final liquidation is not charged),
    - ``cost``: ``turnover * (cost_bps + slippage_bps) / 1e4``,
    - ``net_return``: ``gross_return - cost``,
    - ``gross_exposure``: ``sum_i |w_i,t-1|``,
    - ``equity``: ``prod(1 + net_return)`` from 1.0.

    Decision dates missing from ``positions`` inside that span, and NaN weights, are flat. A NaN
    return on a held ticker (a missing bar) earns 0. Every positions date must be a bar of
    ``log_returns`` and every positions ticker one of its columns.
    """
    if cost_bps < 0 or slippage_bps < 0:
        raise ConfigError(f"cost_bps and slippage_bps must be >= 0, got {cost_bps} and {slippage_bps}")
    missing = [t for t in positions.columns if t not in log_returns.columns]
    if missing:
        raise DataError(f"positions hold tickers {missing} that have no returns; pass their returns too")
    if positions.empty:
        raise DataError("positions are empty; nothing to backtest")
    bars = log_returns.index
    if not bars.is_monotonic_increasing or not bars.is_unique:
        raise DataError("log_returns index must be sorted, unique bar dates")
    absent = positions.index.difference(bars)
    if len(absent):
        raise DataError(f"position date {absent[0]} is not a bar of log_returns; align positions to the bars")
    first = bars.get_loc(positions.index.min())
    last = min(bars.get_loc(positions.index.max()) + 1, len(bars) - 1)
    span = bars[first : last + 1]
    weights = positions.astype("float64").reindex(index=span).fillna(0.0)  # [D, N], decided at close
    simple = np.expm1(log_returns[positions.columns].astype("float64").reindex(span))  # [D, N]
    held = weights.shift(1).fillna(0.0)  # weights held over bar t
    trades = held.diff()
    trades.iloc[0] = held.iloc[0]  # entry from flat
    turnover = trades.abs().sum(axis=1)
    gross = (held * simple.fillna(0.0)).sum(axis=1)
    cost = turnover * (cost_bps + slippage_bps) / 1e4
    net = gross - cost
    out = pd.DataFrame({
        "gross_return": gross,
        "cost": cost,
        "net_return": net,
        "turnover": turnover,
        "gross_exposure": held.abs().sum(axis=1),
        "equity": (1.0 + net).cumprod(),
    })
    return out.iloc[1:]  # the first decision date itself earns nothing
