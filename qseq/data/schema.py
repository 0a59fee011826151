"""The canonical price panel and conversion of the layouts users actually have into it.

A *panel* is a long ``pd.DataFrame`` indexed by ``(date, ticker)`` (sorted, unique, tz-naive
dates) with float64 columns drawn from :data:`PRICE_COLUMNS`; ``close`` is always present.
Prices are split/dividend adjusted when the source carries an adjusted close (the OHLC bars are
scaled by ``adj_close / close``, as ``yfinance`` does with ``auto_adjust=True``).

Tickers are 1-32 upper-case letters, digits or ``. ^ = - _`` (:func:`normalize_ticker`).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from qseq.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
OHLC = ("open", "high", "low", "close")

_ALIASES = {
    "date": "date", "datetime": "date", "timestamp": "date", "time": "date", "day": "date",
    "ticker": "ticker", "symbol": "ticker", "instrument": "ticker", "name": "ticker",
    "open": "open", "high": "high", "low": "low", "close": "close",
    "adjclose": "adj_close", "adjustedclose": "adj_close",
    "volume": "volume", "vol": "volume",
}
_REQUIRED = ("date", "close")
TICKER_MAX_LEN = 32
_TICKER_RE = re.compile(rf"^[A-Z0-9^][A-Z0-9.^=\-_]{{0,{TICKER_MAX_LEN - 1}}}$")
_FILE_SUFFIX_RE = re.compile(r"\.(csv|parquet|pq|txt)(\.gz)?$", flags=re.I)


def normalize_ticker(ticker: str) -> str:
    """Upper-case and check a ticker symbol (letters, digits and ``. ^ = - _``)."""
    if not isinstance(ticker, str):
        raise DataError(f"ticker must be a string, got {type(ticker).__name__}")
    key = ticker.strip().upper()
    if not _TICKER_RE.match(key):
        raise DataError(
            f"invalid ticker {ticker!r}: use 1-{TICKER_MAX_LEN} letters, digits or . ^ = - _ "
            "(for example SPY, BRK-B, ^GSPC, EURUSD=X)"
        )
    return key


def ticker_from_filename(path: str | Path) -> str | None:
    """The ticker a single-ticker file without a ticker column is named by: the file name
    without its suffix, up to the first ``_`` or space, upper-cased, with characters outside
    the ticker set dropped and cut to 32 characters (``spy.csv`` -> ``SPY``,
    ``samsung_005930_ohlcv_2000_2025.csv`` -> ``SAMSUNG``, ``BRK-B.parquet`` -> ``BRK-B``).
    ``None`` when nothing usable is left (then the caller must name it)."""
    stem = _FILE_SUFFIX_RE.sub("", Path(path).name)
    token = re.split(r"[_\s]", stem.strip(), maxsplit=1)[0].upper()
    token = re.sub(r"[^A-Z0-9.^=\-]", "", token)[:TICKER_MAX_LEN]
    return token if _TICKER_RE.match(token) else None


def _canonical(name: object) -> str:
    key = re.sub(r"[^a-z]", "", str(name).lower())
    return _ALIASES.get(key, str(name))


def _describe_needed(found: list[str]) -> str:
    return (
        f"found columns {found}; need a date column (Date/Datetime or the index) and Close, "
        "optionally Open/High/Low/Adj Close/Volume and a Ticker/Symbol column for panels"
    )


def _wide_multiindex_to_long(frame: pd.DataFrame) -> pd.DataFrame:
    """yfinance ``download`` frame with MultiIndex columns -> long frame with a ticker column.

    Handles both ``group_by='column'`` (levels Price, Ticker) and ``group_by='ticker'``.
    """
    levels = [
        [_canonical(v) for v in frame.columns.get_level_values(i)] for i in range(2)
    ]
    price_level = 0 if set(levels[0]) & set(PRICE_COLUMNS) else 1
    renamed = frame.copy()
    renamed.columns = pd.MultiIndex.from_arrays(
        [levels[price_level], frame.columns.get_level_values(1 - price_level).astype(str)],
        names=["field", "ticker"],
    )
    long = renamed.stack(level="ticker", future_stack=True)
    long.index = long.index.set_names(["date", "ticker"])
    long = long.reset_index()
    long.columns.name = None
    return long


def normalize_prices(
    frame: pd.DataFrame, ticker: str | None = None, adjust: bool = True
) -> pd.DataFrame:
    """Convert a user or vendor frame into a canonical panel.

    Accepts: a flat OHLCV frame (date as a column or the index, any column case, optional
    ``Adj Close``), a long frame with a ticker column, or a yfinance frame with MultiIndex
    columns. ``ticker`` names the instrument of a single-ticker frame.

    Returns a frame indexed by ``(date, ticker)`` with columns from :data:`PRICE_COLUMNS`.
    In a wide (MultiIndex) frame, rows where every price field is missing are dates on which
    that ticker did not trade and are dropped; any other missing value is kept for the NaN
    policy to decide.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of prices, got {type(frame).__name__}")
    wide = isinstance(frame.columns, pd.MultiIndex)
    if wide:
        if frame.columns.nlevels != 2:
            raise DataError(
                f"MultiIndex columns with {frame.columns.nlevels} levels are not understood; "
                "expected yfinance's two levels (Price, Ticker)"
            )
        idx_name = frame.index.name or "date"
        frame = frame.rename_axis(idx_name)
        frame = _wide_multiindex_to_long(frame)
    else:
        frame = frame.copy()
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.rename_axis("date").reset_index()
        elif _canonical(frame.index.name) == "date":
            frame = frame.reset_index()
        elif isinstance(frame.index, pd.MultiIndex):
            frame = frame.reset_index()

    mapping: dict[object, str] = {}
    for col in frame.columns:
        canon = _canonical(col)
        if canon in mapping.values() and canon in _ALIASES.values():
            raise DataError(f"columns {list(frame.columns)} map to '{canon}' more than once")
        mapping[col] = canon
    frame = frame.rename(columns=mapping)
    found = [str(c) for c in mapping]
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"missing {missing}: " + _describe_needed(found))

    if "ticker" not in frame.columns:
        if ticker is None:
            raise DataError(
                "the data has no ticker column; pass ticker=... (CLI: --ticker) to name it"
            )
        frame["ticker"] = ticker
    frame["ticker"] = frame["ticker"].astype(str).str.strip().str.upper()

    try:
        dates = pd.to_datetime(frame["date"], format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(f"could not parse the date column as dates ({exc})") from None
    if getattr(dates.dt, "tz", None) is not None:
        # Daily bars: keep the exchange-local calendar date, drop the time zone.
        dates = dates.dt.tz_localize(None)
    frame["date"] = dates.dt.normalize() if _is_daily(dates) else dates

    out = pd.DataFrame({"date": frame["date"], "ticker": frame["ticker"]})
    for col in (*PRICE_COLUMNS, "adj_close"):
        if col in frame.columns:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
            bad = (frame[col].notna() & out[col].isna()).to_numpy()
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                row = frame.iloc[pos]
                raise DataError(
                    f"{row['ticker']} {row['date']} {col}: value {row[col]!r} is not a number"
                )
    if adjust and "adj_close" in out.columns:
        factor = out["adj_close"] / out["close"]
        for col in ("open", "high", "low"):
            if col in out.columns:
                out[col] = out[col] * factor
        out["close"] = out["adj_close"]
    out = out.drop(columns=["adj_close"], errors="ignore")

    price_cols = [c for c in PRICE_COLUMNS if c in out.columns]
    if wide:
        # A wide frame has a row for every date of every ticker; all-empty rows are dates on
        # which that ticker did not trade, not missing values.
        out = out[out[price_cols].notna().any(axis=1)]
    out = out.set_index(["date", "ticker"]).sort_index()
    return out[price_cols]


def _is_daily(dates: pd.Series) -> bool:
    d = dates.dropna()
    return bool(len(d) == 0 or (d == d.dt.normalize()).all() or _mostly_one_per_day(d))


def _mostly_one_per_day(d: pd.Series) -> bool:
    # yfinance daily bars with tz stamps at midnight local time come out as 00:00 after tz drop;
    # intraday data has several stamps per day.
    return bool(d.dt.normalize().value_counts().max() == 1 and d.dt.hour.nunique() <= 2)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="")
    return open(path, newline="")


def _looks_like_yfinance_multiheader(path: Path) -> bool:
    with _open_text(path) as fh:
        rows = list(itertools.islice(csv.reader(fh), 3))
    if len(rows) < 3:
        return False
    third = rows[2]
    second_head = _canonical(rows[1][0]) if rows[1] else ""
    index_row = bool(third) and _canonical(third[0]) == "date" and all(c == "" for c in third[1:])
    return second_head == "ticker" or index_row


def read_price_file(
    path: str | Path, ticker: str | None = None, adjust: bool = True
) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet price file into a canonical panel.

    ``ticker`` names the series of a single-ticker file (one without a ticker column or a
    yfinance ticker header); without it the name comes from :func:`ticker_from_filename`.
    For a file that carries its tickers, ``ticker`` selects one of them (DataError if absent).
    A repeated date (of one ticker) is a DataError naming the file and the date.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}; check the path")
    name = path.name.lower()
    key = None if ticker is None else normalize_ticker(ticker)
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif name.endswith((".csv", ".csv.gz", ".txt")):
            if _looks_like_yfinance_multiheader(path):
                frame = pd.read_csv(path, header=[0, 1], index_col=0)
            else:
                frame = pd.read_csv(path)
        else:
            raise DataError(f"{path}: unsupported file type; use .csv, .csv.gz or .parquet")
    except DataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"could not read {path}: {first}") from None
    if frame.empty:
        raise DataError(f"{path} contains no rows")
    try:
        panel = normalize_prices(frame, ticker=key or ticker_from_filename(path), adjust=adjust)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    tickers = panel_tickers(panel)
    if key is not None and tickers != [key]:
        if key not in tickers:
            shown = tickers[:20] + (["..."] if len(tickers) > 20 else [])
            raise DataError(f"{path} has no ticker {key}; it holds {shown}: pick one of them")
        panel = panel.xs(key, level="ticker", drop_level=False)
    if panel.index.has_duplicates:
        dup = panel.index.duplicated()
        date, dup_ticker = panel.index[dup][0]
        stamp = pd.Timestamp(date)
        when = str(stamp.date()) if stamp == stamp.normalize() else str(stamp)
        which = f"date {when}" if len(panel_tickers(panel)) == 1 else f"{dup_ticker} on {when}"
        more = f" ({int(dup.sum())} repeated rows in all)" if dup.sum() > 1 else ""
        raise DataError(f"{path}: {which} appears twice{more}; remove the duplicate row")
    return panel


def panel_tickers(panel: pd.DataFrame) -> list[str]:
    """The panel's tickers in order of first appearance."""
    return list(panel.index.get_level_values("ticker").unique())
