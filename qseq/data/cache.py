"""Parquet cache of daily bars under ``$QSEQ_HOME/cache`` (default ``~/.qseq``).

One file per ticker. File names come from :func:`cache_filename`, an injective, path-safe
encoding: a ticker never becomes a raw path component.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from qseq._io import atomic_write_with
from qseq.errors import DataError

_TICKER_RE = re.compile(r"^[A-Z0-9^][A-Z0-9.^=\-_]{0,31}$")
_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def qseq_home() -> Path:
    return Path(os.environ.get("QSEQ_HOME", Path.home() / ".qseq")).expanduser()


def cache_dir() -> Path:
    return qseq_home() / "cache" / "daily"


def normalize_ticker(ticker: str) -> str:
    """Upper-case and check a ticker symbol (letters, digits and ``. ^ = - _``)."""
    if not isinstance(ticker, str):
        raise DataError(f"ticker must be a string, got {type(ticker).__name__}")
    key = ticker.strip().upper()
    if not _TICKER_RE.match(key):
        raise DataError(
            f"invalid ticker {ticker!r}: use 1-32 letters, digits or . ^ = - _ "
            "(for example SPY, BRK-B, ^GSPC, EURUSD=X)"
        )
    return key


def encode_ticker(ticker: str) -> str:
    """Injective, path-safe encoding: ``[A-Z0-9]`` kept, every other character as ``%XX``."""
    return "".join(c if c in _SAFE else f"%{ord(c):02X}" for c in normalize_ticker(ticker))


def decode_ticker(encoded: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), encoded)


def cache_filename(ticker: str) -> str:
    return f"{encode_ticker(ticker)}.parquet"


def cache_path(ticker: str) -> Path:
    return cache_dir() / cache_filename(ticker)


def read_cache(ticker: str) -> pd.DataFrame | None:
    path = cache_path(ticker)
    if not path.is_file():
        return None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cached file {path} is unreadable ({exc}); delete it and run 'qseq data fetch {ticker}'"
        ) from None
    return frame


def write_cache(ticker: str, panel: pd.DataFrame) -> Path:
    """Write a single-ticker panel to the cache atomically; returns the file path."""
    path = cache_path(ticker)
    atomic_write_with(path, lambda tmp: panel.to_parquet(tmp, engine="pyarrow"))
    return path


def cached_tickers() -> list[str]:
    folder = cache_dir()
    if not folder.is_dir():
        return []
    return sorted(decode_ticker(p.stem) for p in folder.glob("*.parquet"))
