"""One entry point for prices: :func:`load_prices` over the cache, yfinance, bundled samples
and user files. The returned panel carries its provenance in ``panel.attrs``:
``source`` (``cache`` | ``yfinance`` | ``bundled`` | ``file``, ``+``-joined for mixed panels),
``detail`` (file or dataset per ticker) and ``notes`` (e.g. that a bundled series is a proxy).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from qseq import constants
from qseq.data import bundled, cache, yahoo
from qseq.data.schema import read_price_file
from qseq.data.validate import (
    NanPolicy,
    OhlcPolicy,
    apply_nan_policy,
    apply_ohlc_policy,
    validate_panel,
)
from qseq.errors import DataError, SourceError

log = logging.getLogger(__name__)
SOURCES = constants.SOURCES
_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".txt")


def _is_path(spec: object) -> bool:
    if isinstance(spec, Path):
        return True
    if not isinstance(spec, str):
        return False
    return "/" in spec or "\\" in spec or spec.lower().endswith(_FILE_SUFFIXES)


def parse_date(value: str | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"bad {name} date {value!r}; use YYYY-MM-DD") from None


def _one_ticker(
    ticker: str, start: str | None, end: str | None, source: str, offline: bool,
    raw: bool = False,
) -> tuple[pd.DataFrame, str, str, str | None]:
    """Return ``(panel, source_used, detail, note)`` for one ticker."""
    key = cache.normalize_ticker(ticker)
    tried: list[str] = []
    if source == "auto" and bundled.is_dataset_name(key):
        source = "bundled"  # a bundled dataset's name is never a Yahoo symbol or a cache file
    if source in ("auto", "cache"):
        frame = cache.read_cache(key)
        if frame is not None:
            dates = frame.index.get_level_values("date")
            slack = pd.Timedelta(days=7)  # weekends and holidays at either end
            covered = (start is None or pd.Timestamp(start) >= dates.min() - slack) and (
                end is None or pd.Timestamp(end) <= dates.max() + slack)
            if covered or offline or source == "cache":
                note = None if covered else (
                    f"{key}: the cache holds only {dates.min().date()} to {dates.max().date()}; "
                    f"run 'qseq data fetch {key}' online for more")
                return frame, "cache", str(cache.cache_path(key)), note
            tried.append("cache (does not cover the requested dates)")
        else:
            tried.append("cache (no file)")
        if source == "cache":
            raise SourceError(f"{key} is not in the cache; run 'qseq data fetch {key}' first")
    if source in ("auto", "yfinance") and not offline:
        try:
            frame = yahoo.fetch_yahoo(key, start=start, end=end)
        except SourceError as exc:
            if source == "yfinance":
                raise
            tried.append(f"yfinance: {exc}")
            log.info("yfinance unavailable for %s: %s", key, exc)
        else:
            old = cache.read_cache(key)
            if old is not None:  # keep cached bars outside the downloaded range
                frame = pd.concat([old[~old.index.isin(frame.index)], frame]).sort_index()
            cache.write_cache(key, frame)
            return frame, "yfinance", "Yahoo Finance via yfinance", None
    elif source == "yfinance":
        raise SourceError("source 'yfinance' needs the network; drop --offline")
    if source in ("auto", "bundled"):
        try:
            dataset, inner, note = bundled.find_bundled(key)
        except DataError as exc:
            if tried:
                raise SourceError(f"{exc}; also tried: {', '.join(tried)}") from None
            raise
        frame = bundled.load_dataset(dataset, raw=raw)
        if inner != "*":
            frame = frame.xs(inner, level="ticker", drop_level=False)
            frame = frame.rename(index={inner: key}, level="ticker")
        if tried and not offline:
            fallback = f"{key}: {tried[-1]}; used the bundled sample instead"
            note = f"{note}. {fallback}" if note else fallback
        return frame, "bundled", f"datasets/{bundled.DATASETS[dataset].file}", note
    raise DataError(f"unknown source {source!r}; choose one of {list(SOURCES)}")


def collect_prices(
    ticker_or_path: str | Path | Sequence[str],
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    source: str = "auto",
    *,
    offline: bool = False,
    raw: bool = False,
    ticker: str | None = None,
) -> pd.DataFrame:
    """Gather prices from the sources without repair policies or validation (see
    :func:`load_prices`). ``raw`` also skips the declared repairs of bundled datasets."""
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose one of {list(SOURCES)}")
    t0, t1 = parse_date(start, "start"), parse_date(end, "end")
    if t0 is not None and t1 is not None and t0 > t1:
        raise DataError(f"start {t0.date()} is after end {t1.date()}; swap or fix the dates")
    s0 = None if t0 is None else str(t0.date())
    s1 = None if t1 is None else str((t1 + pd.Timedelta(days=1)).date())  # yfinance end: exclusive

    if _is_path(ticker_or_path) or source == "file":
        if source not in ("auto", "file"):
            raise DataError(f"a file path was given with source {source!r}; use source='file'")
        path = Path(ticker_or_path)  # type: ignore[arg-type]
        parts = [(read_price_file(path, ticker=ticker), "file", str(path), None)]
    elif ticker is not None:
        raise DataError(f"ticker={ticker!r} names or picks the series of a price file; "
                        f"{ticker_or_path!r} is not a file path: pass tickers as the first argument")
    else:
        names = [ticker_or_path] if isinstance(ticker_or_path, str) else list(ticker_or_path)
        if not names:
            raise DataError("no tickers given")
        parts = [_one_ticker(t, s0, s1, source, offline, raw) for t in names]

    panel = pd.concat([p[0] for p in parts]).sort_index()
    if panel.index.has_duplicates:
        dup = panel.index[panel.index.duplicated()][0]
        raise DataError(f"ticker {dup[1]} appears twice on {dup[0].date()}; list each ticker once")
    dates = panel.index.get_level_values("date")
    keep = np.ones(len(panel), dtype=bool)
    if t0 is not None:
        keep &= dates >= t0
    if t1 is not None:
        keep &= dates <= t1
    panel = panel[keep]
    if panel.empty:
        rng = f"{t0.date() if t0 is not None else '...'} to {t1.date() if t1 is not None else '...'}"
        raise DataError(f"no rows in {rng} for {ticker_or_path}; pick dates inside the data range")
    panel.attrs.update(
        source="+".join(sorted({p[1] for p in parts})),
        detail="; ".join(sorted({p[2] for p in parts})),
        notes=[p[3] for p in parts if p[3]],
    )
    return panel


def load_prices(
    ticker_or_path: str | Path | Sequence[str],
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    source: str = "auto",
    *,
    offline: bool = False,
    nan_policy: NanPolicy = "raise",
    ohlc_policy: OhlcPolicy = "raise",
    ticker: str | None = None,
) -> pd.DataFrame:
    """Load daily bars as a validated panel indexed by ``(date, ticker)``.

    ``ticker_or_path`` is a ticker (``"SPY"``), a list of tickers, a bundled dataset name
    (``"stocks5"``, ``"sp500_524"``) or a CSV/Parquet path. ``source="auto"`` tries the Parquet
    cache, then yfinance (skipped with ``offline=True``), then the bundled samples.
    A bundled dataset name goes straight to the bundled data, with no network attempt.
    ``ticker`` is for a file: it names the series of a single-ticker file (one without a ticker
    column; the default is the leading symbol of the file name, see
    :func:`qseq.data.schema.ticker_from_filename`) or picks one ticker of a panel file.
    ``start``/``end`` are inclusive dates. Provenance is in ``panel.attrs``: ``source``,
    ``detail`` and ``notes`` (for example that a bundled series stands in as a proxy, or how
    many rows a repair policy changed).
    """
    panel = collect_prices(ticker_or_path, start, end, source, offline=offline, ticker=ticker)
    panel = apply_ohlc_policy(apply_nan_policy(panel, nan_policy), ohlc_policy)  # keep attrs
    validate_panel(panel)
    return panel
