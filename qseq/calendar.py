"""Exchange trading calendars (full-day closures), for dating forecasts of future bars.

Sessions come from the maintained ``exchange_calendars`` package: regular holidays and one-off
closures (2001-09-11..14, Hurricane Sandy 2012-10-29..30, national days of mourning such as
2018-12-05 or 2025-01-09), one calendar per ISO 10383 exchange code (``XNYS`` New York Stock
Exchange, ``XNAS``, ``XLON``, ``XTKS``, ...; aliases such as ``NYSE`` work too).

Range: each calendar is built once per process over a fixed window, from :data:`FIRST_DAY`
(1970-01-01, or the first month the library supports for that exchange) to the end of the year
:data:`YEARS_AHEAD` years after today (or the last day the library supports, e.g. 2026-12-31
for XSHG). A date outside that window raises :class:`~qseq.errors.DataError` naming the window,
never a guessed answer. The window starts in 1970 because exchange_calendars drops every regular
holiday before 1970 (pandas' holiday calendars start there), so earlier "sessions" would be
wrong. Sessions years ahead follow the exchange's regular rules: a one-off closure announced
later is known only once ``exchange_calendars`` ships it.

``exchange_calendars`` is imported on first use (about 0.1 s on top of pandas; building a
calendar takes another 0.2-0.3 s, or up to 3 s for XKRX), never when this module is imported.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qseq.errors import ConfigError, DataError

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

DEFAULT_EXCHANGE = "XNYS"
FIRST_DAY = pd.Timestamp("1970-01-01")  # no regular holidays before it: see the docstring
YEARS_AHEAD = 5  # windows end on December 31 this many years after today
_EXAMPLES = "XNYS, XNAS, XLON, XPAR, XETR, XTKS, XHKG, XTSE, XASX"


@lru_cache(maxsize=64)
def _resolve(exchange: str) -> str:
    """The library's canonical code for ``exchange`` (case-insensitive; aliases resolved)."""
    import exchange_calendars as xcals

    names = {n.upper(): n for n in xcals.get_calendar_names(include_aliases=True)}
    code = str(exchange).strip()
    if code.upper() not in names:
        close = difflib.get_close_matches(code.upper(), list(names), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(names[c] for c in close)}? " if close else ""
        raise ConfigError(f"unknown exchange calendar {exchange!r}; {hint}use an ISO 10383 code "
                          f"such as {_EXAMPLES} ({len(names)} names in "
                          "exchange_calendars.get_calendar_names())")
    return xcals.resolve_alias(names[code.upper()])


def get_calendar(exchange: str = DEFAULT_EXCHANGE) -> ExchangeCalendar:
    """The ``exchange_calendars`` calendar of ``exchange`` over qseq's window (cached per process).

    An unknown code raises :class:`ConfigError` naming it with close matches and valid codes.
    """
    return _build(_resolve(exchange))


@cache
def _build(code: str) -> ExchangeCalendar:
    import exchange_calendars as xcals

    # the class's supported range, without building a default calendar first (slow for XKRX)
    factory = getattr(xcals.calendar_utils, "_default_calendar_factories", {}).get(code)
    lo, hi = (factory.bound_min(), factory.bound_max()) if factory else (None, None)
    start = FIRST_DAY
    if lo is not None and lo > start:  # start on a month's first day: turn-of-month is exact
        start = lo if lo.day == 1 else lo + pd.offsets.MonthBegin(1)
    end = pd.Timestamp(f"{pd.Timestamp.now().year + YEARS_AHEAD}-12-31")
    if hi is not None and hi < end:
        end = hi
    try:
        with warnings.catch_warnings():  # pandas deprecations inside the library: not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return xcals.get_calendar(code, start=start, end=end)
    except (NotImplementedError, ValueError) as err:  # e.g. ASEX, XBEL, XTAE under pandas 3.1
        raise ConfigError(f"exchange calendar {code} cannot be built by exchange_calendars "
                          f"{xcals.__version__} with pandas {pd.__version__} "
                          f"({type(err).__name__}: {str(err)[:120]}); pick another exchange"
                          ) from None


@cache
def _sessions(code: str) -> np.ndarray:
    days = _build(code).sessions.to_numpy().astype("datetime64[D]")
    days.flags.writeable = False
    return days


def session_days(exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """[S] datetime64[D], sorted and read-only: every session of ``exchange`` in its window."""
    return _sessions(_resolve(exchange))


def _outside(first: object, last: object, code: str) -> DataError:
    days = _sessions(code)
    return DataError(f"dates {first}..{last} fall outside the {code} calendar ({days[0]}.."
                     f"{days[-1]}): qseq builds it from {FIRST_DAY.date()} to {YEARS_AHEAD} years "
                     "ahead, within what exchange_calendars supports for this exchange")


def sessions_after(dates: np.ndarray, steps: Sequence[int], *,
                   exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """[N, K] datetime64[D]: for each of ``dates`` [N], the session ``steps[k]`` sessions after it.

    Step 1 is the first session strictly after the date; a date that is not a session (a
    weekend, a holiday) counts from the next session. ``steps`` must be >= 1. DataError when a
    date or an answer falls outside the calendar's window.
    """
    code = _resolve(exchange)
    days = np.asarray(dates).astype("datetime64[D]").reshape(-1)
    ahead = np.asarray(steps, dtype=np.int64).reshape(-1)
    if ahead.size and ahead.min() < 1:
        raise ConfigError(f"session steps must be >= 1, got {ahead.tolist()}")
    sessions = _sessions(code)
    if days.size == 0 or ahead.size == 0:
        return np.empty((days.size, ahead.size), dtype="datetime64[D]")
    idx = np.searchsorted(sessions, days, side="right")[:, None] + ahead[None, :] - 1
    if days.min() < sessions[0] or idx.max() >= len(sessions):
        raise _outside(days.min(), f"{days.max()} + {ahead.max()} sessions", code)
    return sessions[idx]


def next_trading_days(after: pd.Timestamp, count: int, *,
                      exchange: str = DEFAULT_EXCHANGE) -> pd.DatetimeIndex:
    """The ``count`` sessions of ``exchange`` strictly after the day of ``after``, as tz-naive
    midnight timestamps (``after`` itself need not be a session)."""
    if count < 0:
        raise ConfigError(f"count must be >= 0, got {count}")
    day = np.datetime64(pd.Timestamp(after).date(), "D")
    days = sessions_after(np.array([day]), range(1, count + 1), exchange=exchange)[0]
    return pd.DatetimeIndex(days.astype("datetime64[ns]"))


def sessions_between(start: pd.Timestamp | str, end: pd.Timestamp | str, *,
                     exchange: str = DEFAULT_EXCHANGE) -> pd.DatetimeIndex:
    """Sessions of ``exchange`` from ``start`` to ``end`` (both days inclusive), tz-naive midnight
    timestamps. DataError when the range reaches outside the calendar's window."""
    code = _resolve(exchange)
    first = np.datetime64(pd.Timestamp(start).date(), "D")
    last = np.datetime64(pd.Timestamp(end).date(), "D")
    sessions = _sessions(code)
    if first < sessions[0] or last > sessions[-1]:
        raise _outside(first, last, code)
    lo, hi = np.searchsorted(sessions, first, "left"), np.searchsorted(sessions, last, "right")
    return pd.DatetimeIndex(sessions[lo:hi].astype("datetime64[ns]"))


def session_positions(days: np.ndarray, *, exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """int64 positions of ``days`` (datetime64[D], any shape) in :func:`session_days`.

    DataError when a day is outside the calendar's window or is not a session of ``exchange``.
    """
    code = _resolve(exchange)
    flat = np.asarray(days).astype("datetime64[D]")
    sessions = _sessions(code)
    if flat.size == 0:
        return np.zeros(flat.shape, dtype=np.int64)
    if flat.min() < sessions[0] or flat.max() > sessions[-1]:
        raise _outside(flat.min(), flat.max(), code)
    pos = np.searchsorted(sessions, flat)
    off = sessions[np.minimum(pos, len(sessions) - 1)] != flat
    if off.any():
        raise DataError(f"{flat[off][0]} is not a session of {code} (a weekend or exchange "
                        "holiday); pass trading days of that exchange")
    return pos.astype(np.int64)

