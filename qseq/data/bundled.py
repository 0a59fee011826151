"""Real sample data shipped in ``datasets/`` (see ``datasets/MANIFEST`` for provenance).

Each bundled file is described once here: how to read it, which instruments it holds, which
repairs it needs (stated, never silent), and whether it stands in for another instrument.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from qseq.data.schema import normalize_prices, read_price_file
from qseq.data.validate import apply_nan_policy, apply_ohlc_policy
from qseq.errors import DataError


@dataclass(frozen=True)
class BundledDataset:
    name: str
    file: str
    description: str
    tickers: tuple[str, ...] = ()
    ticker: str | None = None  # for single-instrument files without a ticker column
    rename: dict[str, str] = field(default_factory=dict)
    nan_policy: str = "raise"
    ohlc_policy: str = "raise"
    notes: str = ""


DATASETS: dict[str, BundledDataset] = {
    d.name: d
    for d in (
        BundledDataset(
            "sp500", "spx_daily_1999_2018_arch.csv.gz",
            "S&P 500 index (^GSPC) daily OHLCV, 1999-2018", tickers=("^GSPC",), ticker="^GSPC",
        ),
        BundledDataset(
            "nasdaq", "ixic_daily_1999_2018_arch.csv.gz",
            "NASDAQ Composite (^IXIC) daily OHLCV, 1999-2018", tickers=("^IXIC",), ticker="^IXIC",
        ),
        BundledDataset(
            "vix", "vix_daily_2014_2019_arch.csv.gz",
            "CBOE VIX (^VIX) daily close, 2014-2019", tickers=("^VIX",), ticker="^VIX",
            rename={"vix": "close"}, nan_policy="drop",
            notes="close only; 46 days the source marks '.' (no value) are dropped",
        ),
        BundledDataset(
            "stocks5", "stocks5_ohlcv_2000_2013_bokeh_quandlwiki.csv.gz",
            "AAPL, IBM, MSFT, GOOG, FB daily OHLCV (split/dividend adjusted), 2000-2013",
            tickers=("AAPL", "FB", "GOOG", "IBM", "MSFT"),
        ),
        BundledDataset(
            "sp500_524", "sp500_524tickers_ohlcv_2009_2010_bytetheory.parquet",
            "524 S&P 500 stocks, daily unadjusted OHLCV, 2009-08-21 to 2010-08-20",
            ohlc_policy="clip",
            notes="volume in lots of 100 shares; 78 bars with high/low inside the open-close "
                  "body are widened (ohlc_policy='clip')",
        ),
    )
}

# Instruments the bundle can stand in for, with the plain-words caveat shown to the user.
PROXIES: dict[str, tuple[str, str]] = {
    "SPY": ("^GSPC", "S&P 500 index levels (^GSPC, bundled 1999-2018) used as a proxy for SPY"),
}

SECTORS_FILE = "sp500_sectors_bytetheory.csv"


def datasets_dir() -> Path:
    """The bundled data folder: ``$QSEQ_DATASETS`` or ``datasets/`` beside the package."""
    env = os.environ.get("QSEQ_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "datasets"


@lru_cache(maxsize=16)
def _load_dataset_cached(name: str, mtime: float, raw: bool) -> pd.DataFrame:
    spec = DATASETS[name]
    path = datasets_dir() / spec.file
    if spec.rename:
        frame = pd.read_csv(path, na_values=["."]).rename(columns=spec.rename)
        panel = normalize_prices(frame, ticker=spec.ticker)
    else:
        panel = read_price_file(path, ticker=spec.ticker)
    if raw:
        return panel
    panel = apply_nan_policy(panel, spec.nan_policy)  # type: ignore[arg-type]
    return apply_ohlc_policy(panel, spec.ohlc_policy)  # type: ignore[arg-type]


def load_dataset(name: str, raw: bool = False) -> pd.DataFrame:
    """Load one bundled dataset as a canonical panel (a fresh copy each call).

    The dataset's declared repairs (``nan_policy``, ``ohlc_policy``) are applied unless ``raw``.
    """
    if name not in DATASETS:
        raise DataError(f"unknown bundled dataset {name!r}; available: {sorted(DATASETS)}")
    path = datasets_dir() / DATASETS[name].file
    if not path.is_file():
        raise DataError(f"bundled file {path} is missing; set QSEQ_DATASETS to the datasets folder")
    return _load_dataset_cached(name, path.stat().st_mtime, raw).copy()


def is_dataset_name(name: str) -> bool:
    """Whether ``name`` (any case) names a bundled dataset, e.g. ``sp500`` or ``SP500_524``."""
    return name.lower() in DATASETS


def find_bundled(ticker: str) -> tuple[str, str, str | None]:
    """Return ``(dataset, ticker_in_dataset, proxy_note)`` for a ticker, or raise DataError."""
    key = ticker.upper()
    note = None
    if key in PROXIES:
        key, note = PROXIES[key]
    for spec in DATASETS.values():
        if key in spec.tickers:
            return spec.name, key, note
    if is_dataset_name(key):
        return key.lower(), "*", None
    raise DataError(
        f"no bundled data for {ticker!r}; bundled tickers: {sorted(bundled_tickers())} "
        f"(datasets: {sorted(DATASETS)}); fetch it with 'qseq data fetch {ticker}' when online"
    )


def bundled_tickers() -> list[str]:
    out = set(PROXIES)
    for spec in DATASETS.values():
        out.update(spec.tickers)
    return sorted(out)


def load_sectors() -> pd.DataFrame:
    """Sector table of the 524-ticker panel: columns ticker, name, type, sector, industry."""
    return pd.read_csv(datasets_dir() / SECTORS_FILE)
