"""Known-future inputs: calendar features of the bars being forecast.

At the close of an anchor bar the dates of the next H trading sessions are already known (from
the NYSE calendar, :mod:`qseq.calendar`), so features of those dates can feed a seq2seq decoder
without leaking anything: they are computed from the anchor date alone, never from later rows
of the panel (a gap in the data is not known in advance; the exchange calendar is).

Features of the session ``h`` bars after the anchor (columns in this order per name):

- ``day_of_week``:   sin and cos of 2 pi dow / 5 (Monday = 0)
- ``month``:         sin and cos of 2 pi (month - 1) / 12
- ``gap_days``:      calendar days since the previous session minus one (0 mid-week, 2 after a
                     weekend, 3 after a long weekend)
- ``turn_of_month``: 1 on the last session of a month and the first three of the next, else 0
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from qseq.calendar import _BDAY
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


@lru_cache(maxsize=64)
def _sessions_for_years(first: int, last: int) -> np.ndarray:
    """NYSE sessions from January ``first`` to December ``last``, as datetime64[D]."""
    days = pd.date_range(f"{first}-01-01", f"{last}-12-31", freq=_BDAY)
    return days.to_numpy().astype("datetime64[D]")


def sessions_covering(dates: np.ndarray, ahead: int) -> np.ndarray:
    """[S] datetime64[D] NYSE sessions from before ``dates.min()`` to at least ``ahead``
    sessions after ``dates.max()`` (whole years, cached)."""
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    first, last = int(years.min()) - 1, int(years.max()) + 1 + ahead // 250
    return _sessions_for_years(first, last)


def future_dates(anchor_dates: np.ndarray, horizons: Sequence[int]) -> np.ndarray:
    """[N, H] datetime64[D]: the NYSE session ``h`` sessions after each anchor date.

    An anchor date that is not itself a session (a weekend bar, say) counts from the next
    session: h = 1 is the first session strictly after it.
    """
    dates = np.asarray(anchor_dates).astype("datetime64[D]")
    if dates.size == 0:
        return np.empty((0, len(horizons)), dtype="datetime64[D]")
    sessions = sessions_covering(dates, max(horizons))
    nxt = np.searchsorted(sessions, dates, side="right")  # first session after each date
    return sessions[nxt[:, None] + np.asarray(horizons)[None, :] - 1]


def calendar_features(days: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Features of sessions ``days`` (datetime64[D], any shape S): float32 [*S, C]."""
    names = check_future_features(names)
    flat = np.asarray(days).astype("datetime64[D]").reshape(-1)
    cols: list[np.ndarray] = []
    if flat.size:
        sessions = sessions_covering(flat, 5)
        pos = np.searchsorted(sessions, flat)
        if np.any(sessions[np.minimum(pos, len(sessions) - 1)] != flat):
            bad = flat[sessions[np.minimum(pos, len(sessions) - 1)] != flat][0]
            raise DataError(f"{bad} is not an NYSE session; calendar features are defined for "
                            "NYSE trading days")
    for name in names:
        if name == "day_of_week":
            dow = ((flat.astype(np.int64) + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday
            cols += [np.sin(2 * np.pi * dow / 5), np.cos(2 * np.pi * dow / 5)]
        elif name == "month":
            month = (flat.astype("datetime64[M]").astype(np.int64) % 12).astype(np.float64)
            cols += [np.sin(2 * np.pi * month / 12), np.cos(2 * np.pi * month / 12)]
        elif name == "gap_days":
            cols.append(((flat - sessions[pos - 1]) / _DAY - 1).astype(np.float64))
        else:  # turn_of_month
            month = sessions.astype("datetime64[M]")
            last = np.append(month[1:] != month[:-1], True)  # last session of its month
            first = np.insert(month[1:] != month[:-1], 0, True)
            rank = np.arange(len(sessions)) - np.maximum.accumulate(
                np.where(first, np.arange(len(sessions)), 0))  # 0 = first session of the month
            turn = last | (rank < 3)
            cols.append(turn[pos].astype(np.float64))
    out = np.stack(cols, axis=-1) if cols else np.zeros((flat.size, 0))
    return out.reshape(*np.shape(days), out.shape[-1]).astype(np.float32)


def future_inputs(anchor_dates: np.ndarray, horizons: Sequence[int],
                  names: Sequence[str]) -> np.ndarray:
    """Known-future inputs for forecasts made at ``anchor_dates`` [N]: float32 [N, H, C]."""
    return calendar_features(future_dates(anchor_dates, horizons), names)


def warn_if_not_nyse(row_dates: np.ndarray) -> str | None:
    """A message when many panel dates are not NYSE sessions (the calendar may not fit)."""
    dates = np.unique(np.asarray(row_dates).astype("datetime64[D]"))
    if dates.size == 0:
        return None
    sessions = sessions_covering(dates, 0)
    off = ~np.isin(dates, sessions)
    if off.mean() > 0.01:
        return (f"{off.sum()} of {dates.size} panel dates are not NYSE sessions (e.g. "
                f"{dates[off][0]}); calendar features follow the NYSE calendar")
    return None
