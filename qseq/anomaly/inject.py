"""Labelled anomaly injection into real OHLCV bars, for evaluating detectors.

Each kind changes the raw bars of one ticker at a chosen bar ``t`` (sizes in brackets):

- ``spike``: the close of bar t jumps by ``size`` return standard deviations and bar t+1 is
  untouched (so the price reverts); high/low widen to contain it.          [4, 8 sigma]
- ``level_shift``: every price from bar t on is scaled by ``exp(+-size sigma)``.    [4, 8 sigma]
- ``vol_burst``: 10 bars from t with returns and intraday ranges (log of high, low, open over
  close) scaled by ``size``; later prices continue from the new level.        [2.5x, 4x]
- ``stale``: ``size`` bars from t flat-lined at the previous close (open = high = low = close,
  volume unchanged); the true prices resume afterwards.                     [5, 10 bars]
- ``volume_surge``: the volume of bars t and t+1 multiplied by ``size``.        [4x, 10x]
- ``split``: an unadjusted split: prices from bar t on divided by ``size``, volume
  multiplied by it.                                                             [2:1, 3:1]

``sigma`` is the ticker's daily log-return standard deviation over the 250 bars before the
test period. Labels are the bars whose raw data changed (for a level shift or split, bar t).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qseq.errors import ConfigError, DataError

KINDS = ("spike", "level_shift", "vol_burst", "stale", "volume_surge", "split")
SIZES: dict[str, tuple[float, ...]] = {
    "spike": (4.0, 8.0), "level_shift": (4.0, 8.0), "vol_burst": (2.5, 4.0),
    "stale": (5.0, 10.0), "volume_surge": (4.0, 10.0), "split": (2.0, 3.0),
}
BURST_BARS = 10
SURGE_BARS = 2
MARGIN = 12  # bars kept free at the end of the test period


def _inject_one(bars: dict[str, np.ndarray], kind: str, t: int, size: float, sigma: float,
                sign: float) -> list[int]:
    """Change ``bars`` (open/high/low/close/volume arrays of one ticker) in place; returns the
    labelled positions."""
    o, h, lo, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    if kind == "spike":
        c[t] *= np.exp(sign * size * sigma)
        h[t], lo[t] = max(h[t], c[t], o[t]), min(lo[t], c[t], o[t])
        return [t]
    if kind == "level_shift":
        for a in (o, h, lo, c):
            a[t:] *= np.exp(sign * size * sigma)
        return [t]
    if kind == "split":
        for a in (o, h, lo, c):
            a[t:] /= size
        v[t:] *= size
        return [t]
    if kind == "volume_surge":
        v[t:t + SURGE_BARS] *= size
        return list(range(t, t + SURGE_BARS))
    if kind == "stale":
        n = int(size)
        for a in (o, h, lo, c):
            a[t:t + n] = c[t - 1]
        return list(range(t, t + n))
    if kind == "vol_burst":
        end = t + BURST_BARS
        rel = {k: np.log(bars[k][t:end] / c[t:end]) for k in ("open", "high", "low")}
        ret = np.log(c[t:end] / c[t - 1:end - 1])
        new_close = c[t - 1] * np.exp(np.cumsum(size * ret))
        tail = new_close[-1] / c[end - 1]
        for k in ("open", "high", "low"):
            bars[k][t:end] = new_close * np.exp(size * rel[k])
        c[t:end] = new_close
        for a in (o, h, lo, c):
            a[end:] *= tail
        return list(range(t, end))
    raise ConfigError(f"unknown anomaly kind {kind!r}; choose one of {list(KINDS)}")


def inject_anomalies(
    panel: pd.DataFrame,
    kinds: Sequence[str],
    test_start: str | pd.Timestamp,
    *,
    per_ticker: int = 8,
    min_gap: int = 60,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inject ``per_ticker`` anomalies per ticker, of kinds drawn from ``kinds`` (sizes from
    :data:`SIZES`), at random bars on or after ``test_start`` at least ``min_gap`` bars apart.

    Returns the changed panel (same index and columns; rows before ``test_start`` are
    untouched) and the labels: one row per labelled bar with date, ticker, kind, size and
    ``event`` (an id shared by the bars of one injection).
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown anomaly kind {kind!r}; choose one of {list(KINDS)}")
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in panel.columns]
    if missing:
        raise DataError(f"anomaly injection needs OHLCV columns; missing {missing}")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(test_start)
    out = panel.astype({k: np.float64 for k in ("open", "high", "low", "close", "volume")})
    labels = []
    event = 0
    for ticker, frame in panel.groupby(level="ticker", sort=True):
        frame = frame.sort_index()
        dates = frame.index.get_level_values("date")
        bars = {k: frame[k].to_numpy(dtype=np.float64).copy()
                for k in ("open", "high", "low", "close", "volume")}
        first = int(np.searchsorted(dates, start))
        if first < 251:
            raise DataError(f"{ticker} has {first} bars before {start.date()}; injection needs "
                            "250 bars of history to size anomalies")
        sigma = float(np.std(np.diff(np.log(bars["close"][first - 251:first]))))
        room = len(dates) - MARGIN - first
        if room < per_ticker * min_gap:
            raise DataError(f"{ticker}: the test period has {room} bars, too few for "
                            f"{per_ticker} anomalies {min_gap} bars apart")
        # positions: equal slots, a random offset inside each (slack keeps min_gap between them)
        slot = room // per_ticker
        offsets = rng.integers(0, slot - min_gap + 1, size=per_ticker) + 1
        for i in range(per_ticker):
            t = first + i * slot + int(offsets[i])
            kind = kinds[int(rng.integers(len(kinds)))]
            size = float(rng.choice(SIZES[kind]))
            sign = float(rng.choice([-1.0, 1.0]))
            for pos in _inject_one(bars, kind, t, size, sigma, sign):
                labels.append((dates[pos], ticker, kind, size, event))
            event += 1
        for k, values in bars.items():
            out.loc[frame.index, k] = values
    label_frame = pd.DataFrame(labels, columns=["date", "ticker", "kind", "size", "event"])
    return out, label_frame
