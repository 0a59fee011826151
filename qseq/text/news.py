"""News files -> a causal daily sentiment feature per ticker.

    news = read_news("news.csv")                        # date,ticker,headline[,time]
    daily = daily_sentiment(news, LexiconScorer().score(news["headline"]))
    panel = sentiment_panel_columns(panel, daily)       # + sentiment, news_count columns

The time rule. A headline with a publication time belongs to the first session of the
exchange whose close is strictly after that time: the bar of that session is the first one
whose close price could already reflect it. So a headline at 15:59 New York time is in that
day's bar, one at 16:00 or 16:30 in the next session's, one on a weekend or holiday in the
next session's; early closes (13:00 on the day after Thanksgiving) come from the calendar.
A headline with only a date follows ``date_only``: ``"next_session"`` (the default,
conservative) puts it in the first session strictly after its date, as if it came after the
close; ``"same_session"`` puts it in the session on its date (the next one if the date is not
a session), which assumes it was published before that day's close: when some were not, the
feature sees news its bar's close did not, and a backtest on it is optimistic.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from qseq.calendar import DEFAULT_EXCHANGE, get_calendar
from qseq.data.schema import normalize_ticker
from qseq.errors import ConfigError, DataError

__all__ = ["DATE_ONLY_RULES", "DEFAULT_TZ", "daily_sentiment", "parse_news", "read_news",
           "sentiment_panel_columns"]

DEFAULT_TZ = "America/New_York"
DATE_ONLY_RULES = ("next_session", "same_session")
NEWS_COLUMNS = ("published", "has_time", "ticker", "headline")
_CLOCK_RE = r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$"
_HAS_CLOCK = re.compile(r"\d:\d{2}")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


def read_news(path: str | os.PathLike[str], *, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """Read a CSV or Parquet news file and check it with :func:`parse_news`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no news file {path}; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise DataError(f"{path}: unknown news file type {suffix!r}; use .csv or .parquet")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0]}); expected columns "
                        "date,ticker,headline and optionally time") from None
    return parse_news(frame, tz=tz, source=str(path), header_lines=0 if suffix in (".parquet", ".pq") else 1)


def parse_news(frame: pd.DataFrame, *, tz: str = DEFAULT_TZ, source: str = "news",
               header_lines: int = 0) -> pd.DataFrame:
    """Check a news frame: columns ``date``, ``ticker``, ``headline`` and an optional ``time``
    (any case; other columns are dropped).

    ``date`` is a date (``2010-01-04``) or a full timestamp (``2010-01-04 16:30``, or with an
    offset such as ``2010-01-04T21:30Z``, converted to ``tz``); ``time`` (``HH:MM[:SS]``, empty
    where unknown) completes a date-only row. Times without an offset are in ``tz``. A
    datetime-typed (Parquet) ``date`` counts as date-only at exactly midnight.

    Returns a frame with the input's row order and columns ``published`` (datetime64[ns, tz]:
    the publication time, or midnight of the date for a date-only row), ``has_time`` (bool),
    ``ticker`` (normalised, e.g. upper-case) and ``headline`` (stripped). A DataError names the
    source and the 1-based row (the file line when ``header_lines`` is set) of a missing
    column, an unparseable date or time, a bad ticker or an empty headline.
    """
    _check_tz(tz)
    frame = frame.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in ("date", "ticker", "headline") if c not in frame.columns]
    if missing:
        raise DataError(f"{source} lacks column(s) {missing} (found {list(frame.columns)}); "
                        "expected date,ticker,headline and optionally time")
    frame = frame.reset_index(drop=True)

    def where(row: int) -> str:
        line = f" (line {row + 1 + header_lines})" if header_lines else ""
        return f"{source}: row {row + 1}{line}"

    headline = frame["headline"].astype("string").str.strip().fillna("")
    empty = np.flatnonzero((headline == "").to_numpy())
    if empty.size:
        raise DataError(f"{where(empty[0])} has an empty headline; fill or drop the row")
    tickers = frame["ticker"].astype("string").fillna("")
    lookup = {}
    for name in pd.unique(tickers):
        try:
            lookup[name] = normalize_ticker(str(name))
        except DataError as exc:
            row = int(np.flatnonzero((tickers == name).to_numpy())[0])
            raise DataError(f"{where(row)}: {exc}") from None
    published, has_time = _published(frame, tz, where)
    return pd.DataFrame({"published": published, "has_time": has_time,
                         "ticker": tickers.map(lookup).astype(object),
                         "headline": headline.astype(object)})


def _check_tz(tz: str) -> None:
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception:  # pytz, zoneinfo and dateutil raise different types
        raise ConfigError(f"unknown time zone {tz!r}; use an IANA name such as America/New_York "
                          "or Europe/London") from None


def _published(frame: pd.DataFrame, tz: str, where: Callable[[int], str]) -> tuple[pd.Series, np.ndarray]:
    """``published`` (datetime64[ns, tz]) and ``has_time`` [N] of the date (+ time) columns."""
    dates = frame["date"]
    exact = pd.Series(pd.NaT, index=frame.index, dtype=f"datetime64[ns, {tz}]")  # offset given
    if pd.api.types.is_datetime64_any_dtype(dates):
        stamps = pd.Series(pd.to_datetime(dates), index=frame.index)
        aware = np.full(len(frame), stamps.dt.tz is not None)
        if aware.any():
            exact = stamps.dt.tz_convert(tz).astype(exact.dtype)
            stamps = exact.dt.tz_localize(None)
        local = stamps.astype("datetime64[ns]")
        has_time = (local != local.dt.normalize()).to_numpy()
        text = dates.astype("string")
    else:
        text = dates.astype("string").str.strip().fillna("")
        has_time = text.str.contains(_HAS_CLOCK).to_numpy(dtype=bool)
        aware = has_time & text.str.contains(_OFFSET).to_numpy(dtype=bool)
        local = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        if (~aware).any():
            local[~aware] = _parse(text[~aware], utc=False).astype("datetime64[ns]")
        if aware.any():
            exact[aware] = _parse(text[aware], utc=True).dt.tz_convert(tz).astype(exact.dtype)
            local[aware] = exact[aware].dt.tz_localize(None)
    bad = np.flatnonzero(local.isna().to_numpy())
    if bad.size:
        raise DataError(f"{where(bad[0])}: cannot read date {text.iloc[bad[0]]!r}; use "
                        "YYYY-MM-DD, optionally with a time HH:MM[:SS]")
    if "time" in frame.columns:
        clock = _clock(frame["time"], where)
        both = np.flatnonzero(clock.notna().to_numpy() & has_time)
        if both.size:
            raise DataError(f"{where(both[0])} has a time both in date and in time; keep one")
        local = local + clock.fillna(pd.Timedelta(0)).to_numpy()
        has_time = has_time | clock.notna().to_numpy()
        aware = aware & clock.isna().to_numpy()  # a typed aware midnight plus a time: local
    # a repeated (DST) hour reads as its later instant: the conservative one for leakage
    published = local.dt.tz_localize(tz, ambiguous=np.zeros(len(local), dtype=bool),
                                     nonexistent="shift_forward").astype(exact.dtype)
    published[aware] = exact[aware]  # exact instants, not re-read through the local clock
    return published, np.asarray(has_time, dtype=bool)


def _parse(text: pd.Series, utc: bool) -> pd.Series:
    """Dates of ISO 8601 (fast) or other formats pandas can read; NaT where none fits."""
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc)
    retry = parsed.isna() & (text != "")
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=utc)
    return parsed


def _clock(values: pd.Series, where: Callable[[int], str]) -> pd.Series:
    """``time`` values ``HH:MM[:SS]`` -> Timedelta since midnight (NaT where empty)."""
    text = values.astype("string").str.strip().fillna("")
    text = text.where(~text.str.lower().isin(["nan", "nat", "none"]), "")
    parts = text.str.extract(_CLOCK_RE)
    hours, minutes = parts[0].astype(float), parts[1].astype(float)
    seconds = parts[2].astype(float).fillna(0.0)
    ok = (hours < 24) & (minutes < 60) & (seconds < 60)
    bad = np.flatnonzero(((text != "") & ~ok.fillna(False)).to_numpy(dtype=bool))
    if bad.size:
        raise DataError(f"{where(bad[0])}: cannot read time {text.iloc[bad[0]]!r}; use HH:MM or "
                        "HH:MM:SS (24-hour), or leave it empty for a date-only row")
    return pd.to_timedelta(hours * 3600 + minutes * 60 + seconds, unit="s")


def _session_cutoffs(exchange: str, close_time: str | dt.time | None) -> tuple[np.ndarray, np.ndarray]:
    """``(sessions [S] datetime64[D], cutoffs [S] datetime64[ns] UTC)``: each session's close,
    or ``close_time`` (exchange-local) on that day when earlier than the close."""
    calendar = get_calendar(exchange)
    closes = calendar.closes
    sessions = closes.index.to_numpy().astype("datetime64[D]")
    cut = closes.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    if close_time is not None:
        if isinstance(close_time, str):
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", close_time.strip())
            if not match or int(match[1]) > 23 or int(match[2]) > 59:
                raise ConfigError(f"close_time must be HH:MM (24-hour, {calendar.name} local time), "
                                  f"got {close_time!r}")
            close_time = dt.time(int(match[1]), int(match[2]))
        if not isinstance(close_time, dt.time):
            raise ConfigError(f"close_time must be 'HH:MM' or a datetime.time, got {close_time!r}")
        offset = pd.Timedelta(hours=close_time.hour, minutes=close_time.minute)
        local = (pd.DatetimeIndex(closes.index).tz_localize(None) + offset).tz_localize(calendar.tz)
        cut = np.minimum(cut, local.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[ns]"))
    return sessions, cut


def daily_sentiment(news: pd.DataFrame, scores: np.ndarray, *, exchange: str = DEFAULT_EXCHANGE,
                    close_time: str | dt.time | None = None,
                    date_only: str = "next_session") -> pd.DataFrame:
    """Mean headline score per session and ticker, each headline in the first session whose
    bar may see it (the rule is in the module docstring).

    news: a :func:`read_news` frame (``published``, ``has_time``, ``ticker``); scores: ``[N]``
    finite floats in the same row order (e.g. :meth:`LexiconScorer.score` of its headlines).
    close_time: ``HH:MM`` exchange-local cut-off (e.g. ``"15:30"`` to trade at the close on
    the news); sessions that close earlier keep their own close. Returns a frame indexed
    (date, ticker) (date: tz-naive midnight of the session), sorted, with columns
    ``sentiment`` (float64 mean score) and ``news_count`` (int64), one row per session and
    ticker with news.
    """
    if date_only not in DATE_ONLY_RULES:
        raise ConfigError(f"date_only must be one of {list(DATE_ONLY_RULES)}, got {date_only!r}")
    missing = [c for c in ("published", "has_time", "ticker") if c not in news.columns]
    if missing:
        raise DataError(f"news lacks column(s) {missing}; pass the frame read_news returns")
    if not isinstance(news["published"].dtype, pd.DatetimeTZDtype):
        raise DataError("news['published'] must be time-zone aware; pass the frame read_news returns")
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(news):
        raise DataError(f"got {len(scores)} scores for {len(news)} headlines; score every row")
    if not np.isfinite(scores).all():
        raise DataError(f"score {int(np.flatnonzero(~np.isfinite(scores))[0])} is not finite; "
                        "scores must be numbers")
    sessions, cutoffs = _session_cutoffs(exchange, close_time)
    instant = news["published"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    day = news["published"].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    has_time = news["has_time"].to_numpy(dtype=bool)
    timed = np.searchsorted(cutoffs, instant, side="right")  # first cut-off strictly after
    dated = np.searchsorted(sessions, day, side="right" if date_only == "next_session" else "left")
    position = np.where(has_time, timed, dated)  # [N]
    if len(news) and (day.min() < sessions[0] or position.max() >= len(sessions)):
        first = news["published"].iloc[int(np.argmin(day))]
        last = news["published"].iloc[int(np.argmax(position))]
        raise DataError(f"headlines from {first} to {last} reach outside the {exchange} calendar "
                        f"({sessions[0]}..{sessions[-1]}); drop them")
    assigned = pd.DataFrame({"date": sessions[position].astype("datetime64[ns]"),
                             "ticker": news["ticker"].astype(object).to_numpy(), "score": scores})
    daily = assigned.groupby(["date", "ticker"], sort=True).agg(sentiment=("score", "mean"),
                                                               news_count=("score", "size"))
    return daily.astype({"sentiment": np.float64, "news_count": np.int64})


def sentiment_panel_columns(panel: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``panel`` (indexed (date, ticker)) with float64 columns ``sentiment`` (0.0
    without news) and ``news_count`` (0.0 without news) from :func:`daily_sentiment`, replacing
    any columns of those names.

    Each (session, ticker) row of ``daily`` lands on that ticker's first bar dated on or after
    the session (its own bar when the panel has it; the next one when the ticker has no bar
    that day, so news is delayed, never dropped or moved earlier; news after a ticker's last
    bar, or for tickers not in the panel, is dropped). Bars receiving several sessions get the
    count-weighted mean.
    """
    for name, frame in (("panel", panel), ("daily", daily)):
        if list(frame.index.names) != ["date", "ticker"]:
            raise DataError(f"{name} must be indexed (date, ticker), got {list(frame.index.names)}")
    if not {"sentiment", "news_count"} <= set(daily.columns):
        raise DataError(f"daily needs columns sentiment and news_count, got {list(daily.columns)}; "
                        "pass the frame daily_sentiment returns")
    bars = pd.DataFrame({"bar": _naive_ns(panel.index.get_level_values("date")),
                         "ticker": panel.index.get_level_values("ticker").astype(str).to_numpy()})
    news = pd.DataFrame({"date": _naive_ns(daily.index.get_level_values("date")),
                         "ticker": daily.index.get_level_values("ticker").astype(str).to_numpy(),
                         "count": daily["news_count"].to_numpy(np.float64),
                         "weighted": (daily["sentiment"] * daily["news_count"]).to_numpy(np.float64)})
    bars["ticker"], news["ticker"] = bars["ticker"].astype(str), news["ticker"].astype(str)
    landed = pd.merge_asof(news.sort_values("date", kind="stable"),
                           bars.drop_duplicates().sort_values("bar", kind="stable"),
                           left_on="date", right_on="bar", by="ticker", direction="forward")
    per_bar = landed.dropna(subset=["bar"]).groupby(["bar", "ticker"])[["count", "weighted"]].sum()
    key = pd.MultiIndex.from_arrays([bars["bar"], bars["ticker"]])
    aligned = per_bar.reindex(key)
    count = aligned["count"].fillna(0.0).to_numpy(np.float64)
    weighted = aligned["weighted"].fillna(0.0).to_numpy(np.float64)
    out = panel.copy()
    out["sentiment"] = np.divide(weighted, count, out=np.zeros_like(weighted), where=count > 0)
    out["news_count"] = count
    return out


def _naive_ns(dates: pd.Index) -> np.ndarray:
    """datetime64[ns] midnight values of a date index level (tz dropped, time cut)."""
    index = pd.DatetimeIndex(dates)
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.normalize().to_numpy().astype("datetime64[ns]")
