"""Known-future inputs: calendar features of the bars being forecast.

At the close of an anchor bar the dates of the next H trading sessions are already known (from
the exchange calendar, :mod:`qseq.calendar`; NYSE = ``XNYS`` unless ``exchange`` says
otherwise), so features of those dates can feed a seq2seq decoder without leaking anything: they
are computed from the anchor date alone, never from later rows of the panel (a gap in the data
is not known in advance; the exchange calendar is, one-off closures such as 2012-10-29..30
included). Dates outside the calendar's window (:mod:`qseq.calendar`) raise DataError.

Features of the session ``h`` bars after the anchor (columns in this order per name):

- ``day_of_week``:   sin and cos of 2 pi dow / 5 (Monday = 0)
- ``month``:         sin and cos of 2 pi (month - 1) / 12
- ``gap_days``:      calendar days since the previous session minus one (0 mid-week, 2 after a
                     weekend, 3 after a long weekend, 4 on 2012-10-31 after Hurricane Sandy)
- ``turn_of_month``: 1 on the last session of a month and the first three of the next, else 0
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from qseq.calendar import DEFAULT_EXCHANGE, session_days, session_positions, sessions_after
from qseq.errors import ConfigError, DataError

FUTURE_FEATURES: dict[str, int] = {"day_of_week": 2, "month": 2, "gap_days": 1, "turn_of_month": 1}
_DAY = np.timedelta64(1, "D")


def check_future_features(names: Sequence[str]) -> tuple[str, ...]:
    """Validate known-future feature names; returns them as a tuple."""
    names = tuple(names)
    unknown = [n for n in names if n not in FUTURE_FEATURES]
    if unknown:
        raise ConfigError(f"unknown known-future features {unknown}; choose from "
                          f"{list(FUTURE_FEATURES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"known-future features listed twice: {list(names)}")
    return names


def future_size(names: Sequence[str]) -> int:
    """Columns C produced by ``names``."""
    return sum(FUTURE_FEATURES[n] for n in check_future_features(names))


def future_columns(names: Sequence[str]) -> list[str]:
    """Column names, e.g. ``day_of_week_sin``, in output order."""
    out: list[str] = []
    for n in check_future_features(names):
        out += [f"{n}_sin", f"{n}_cos"] if FUTURE_FEATURES[n] == 2 else [n]
    return out


@lru_cache(maxsize=16)
def _session_features(exchange: str) -> tuple[np.ndarray, np.ndarray]:
    """(gap_days, turn_of_month): float64 [S] for every session of ``session_days(exchange)``.
    The window's first session has no known predecessor: its gap_days is NaN."""
    sessions = session_days(exchange)
    gap = np.full(len(sessions), np.nan)
    gap[1:] = np.diff(sessions) / _DAY - 1
    month = sessions.astype("datetime64[M]")
    last = np.append(month[1:] != month[:-1], True)  # last session of its month
    first = np.insert(month[1:] != month[:-1], 0, True)
    rank = np.arange(len(sessions)) - np.maximum.accumulate(
        np.where(first, np.arange(len(sessions)), 0))  # 0 = first session of the month
    return gap, (last | (rank < 3)).astype(np.float64)


def sessions_covering(dates: np.ndarray, ahead: int, *,
                      exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """[S] datetime64[D] sessions of ``exchange`` from before ``dates.min()`` to at least
    ``ahead`` sessions after ``dates.max()``: the calendar's whole window (cached), after
    checking that it reaches that far (DataError if not)."""
    dates = np.asarray(dates).astype("datetime64[D]")
    if dates.size:
        sessions_after(np.array([dates.min(), dates.max()]), (max(ahead, 1),), exchange=exchange)
    return session_days(exchange)


def future_dates(anchor_dates: np.ndarray, horizons: Sequence[int], *,
                 exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """[N, H] datetime64[D]: the session ``h`` sessions of ``exchange`` after each anchor date.

    An anchor date that is not itself a session (a weekend bar, say) counts from the next
    session: h = 1 is the first session strictly after it.
    """
    return sessions_after(anchor_dates, horizons, exchange=exchange)


def calendar_features(days: np.ndarray, names: Sequence[str], *,
                      exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """Features of sessions ``days`` of ``exchange`` (datetime64[D], any shape S): float32
    [*S, C]. DataError for a day that is not a session of ``exchange``."""
    names = check_future_features(names)
    flat = np.asarray(days).astype("datetime64[D]").reshape(-1)
    pos = session_positions(flat, exchange=exchange)
    gap, turn = _session_features(exchange) if flat.size else (np.zeros(0), np.zeros(0))
    cols: list[np.ndarray] = []
    for name in names:
        if name == "day_of_week":
            dow = ((flat.astype(np.int64) + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday
            cols += [np.sin(2 * np.pi * dow / 5), np.cos(2 * np.pi * dow / 5)]
        elif name == "month":
            month = (flat.astype("datetime64[M]").astype(np.int64) % 12).astype(np.float64)
            cols += [np.sin(2 * np.pi * month / 12), np.cos(2 * np.pi * month / 12)]
        elif name == "gap_days":
            if np.isnan(gap[pos]).any():
                raise DataError(f"{flat[np.isnan(gap[pos])][0]} is the first session of the "
                                f"{exchange} calendar window; its gap_days is unknown")
            cols.append(gap[pos])
        else:  # turn_of_month
            cols.append(turn[pos])
    out = np.stack(cols, axis=-1) if cols else np.zeros((flat.size, 0))
    return out.reshape(*np.shape(days), out.shape[-1]).astype(np.float32)


def future_inputs(anchor_dates: np.ndarray, horizons: Sequence[int], names: Sequence[str], *,
                  exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """Known-future inputs for forecasts made at ``anchor_dates`` [N]: float32 [N, H, C], from
    the calendar of ``exchange``."""
    return calendar_features(future_dates(anchor_dates, horizons, exchange=exchange), names,
                             exchange=exchange)


def warn_if_not_nyse(row_dates: np.ndarray, *, exchange: str = DEFAULT_EXCHANGE) -> str | None:
    """A message when many panel dates are not sessions of ``exchange`` (default NYSE): the
    calendar may not fit the data."""
    dates = np.unique(np.asarray(row_dates).astype("datetime64[D]"))
    if dates.size == 0:
        return None
    off = ~np.isin(dates, session_days(exchange))
    if off.mean() > 0.01:
        return (f"{off.sum()} of {dates.size} panel dates are not {exchange} sessions (e.g. "
                f"{dates[off][0]}); calendar features follow the {exchange} calendar")
    return None
