"""The daily sentiment table: what ``qseq text sentiment`` writes and what forecasts, backtests
and pipelines read (``ForecastConfig.sentiment``, ``--sentiment FILE``).

One row per (session date, ticker) with news: ``date`` (the session whose bar may first see the
headlines, see :func:`qseq.text.news.daily_sentiment`), ``ticker``, ``sentiment`` (mean score in
[-1, 1]) and ``news_count``. Parquet (``.parquet``) or CSV (anything else).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from qseq._io import atomic_write_text, atomic_write_with
from qseq.errors import DataError

COLUMNS = ("date", "ticker", "sentiment", "news_count")


def write_sentiment_table(daily: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write :func:`qseq.text.news.daily_sentiment`'s frame (indexed (date, ticker)) atomically."""
    path = Path(path)
    flat = daily.reset_index()[list(COLUMNS)]
    if path.suffix.lower() in (".parquet", ".pq"):
        atomic_write_with(path, lambda tmp: flat.to_parquet(tmp, index=False))
    else:
        atomic_write_text(path, flat.to_csv(index=False, date_format="%Y-%m-%d"))
    return path


def read_sentiment_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a daily sentiment table; returns it indexed (date, ticker) (tz-naive dates, upper-case
    tickers), sorted, with float64 ``sentiment`` and ``news_count``. A DataError names a missing
    file or column, an unparseable date, a bad ticker, a duplicate row or a non-finite value."""
    from qseq.data.schema import normalize_ticker

    path = Path(path)
    if not path.is_file():
        raise DataError(f"sentiment table {path} not found; write one with `qseq text sentiment "
                        "--news NEWS.csv --out FILE`")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read sentiment table {path}: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"sentiment table {path} lacks columns {missing} (has "
                        f"{list(frame.columns)}); it needs {list(COLUMNS)}")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"sentiment table {path}: row {row + 1} has date {frame['date'].iloc[row]!r}, "
                        "not a date; use YYYY-MM-DD")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    values = frame[["sentiment", "news_count"]].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(np.float64)).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"sentiment table {path}: row {row + 1} has a missing or non-numeric "
                        "sentiment or news_count")
    tickers = [normalize_ticker(str(t)) for t in frame["ticker"]]
    out = pd.DataFrame({"sentiment": values["sentiment"].to_numpy(np.float64),
                        "news_count": values["news_count"].to_numpy(np.float64)},
                       index=pd.MultiIndex.from_arrays([dates.dt.normalize(), tickers],
                                                       names=["date", "ticker"]))
    dup = out.index.duplicated()
    if dup.any():
        date, ticker = out.index[int(np.flatnonzero(dup)[0])]
        raise DataError(f"sentiment table {path} has two rows for {ticker} on {date.date()}; "
                        "keep one row per date and ticker")
    return out.sort_index()


def join_sentiment_file(panel: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """``panel`` with the ``sentiment`` and ``news_count`` columns of the table at ``path``
    (0 on bars without news; :func:`qseq.text.news.sentiment_panel_columns` says where news
    of a session without a bar lands)."""
    from qseq.text.news import sentiment_panel_columns

    return sentiment_panel_columns(panel, read_sentiment_table(path))
