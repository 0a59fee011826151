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
from qseq.data.schema import normalize_ticker  # also imported from here by callers
from qseq.errors import DataError

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def qseq_home() -> Path:
    return Path(os.environ.get("QSEQ_HOME", Path.home() / ".qseq")).expanduser()


def cache_dir() -> Path:
    return qseq_home() / "cache" / "daily"


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
    """The cached panel of ``ticker``, or ``None`` when there is no cache file for it."""
    path = cache_path(ticker)
    if not path.is_file():
        return None
    return read_cache_file(path, normalize_ticker(ticker))


def read_cache_file(path: Path, ticker: str) -> pd.DataFrame:
    """Read one cache file; an unreadable file or one without the cache layout (a panel indexed
    by ``(date, ticker)`` with a ``close`` column) is a one-line DataError naming the file and
    the fix."""
    fix = f"delete it or re-fetch with 'qseq data fetch {ticker}'"
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, TypeError, NotImplementedError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cached file {path} is unreadable ({first}); {fix}") from None
    idx = frame.index
    layout_ok = (
        isinstance(idx, pd.MultiIndex) and list(idx.names) == ["date", "ticker"]
        and isinstance(idx.get_level_values("date"), pd.DatetimeIndex) and "close" in frame.columns
    )
    if not layout_ok:
        raise DataError(
            f"cached file {path} is not a qseq cache file (index {list(idx.names)}, columns "
            f"{[str(c) for c in frame.columns][:8]}; expected a (date, ticker) index and a close "
            f"column); {fix}"
        )
    return frame


def write_cache(ticker: str, panel: pd.DataFrame) -> Path:
    """Write a single-ticker panel to the cache atomically; returns the file path."""
    path = cache_path(ticker)
    atomic_write_with(path, lambda tmp: panel.to_parquet(tmp, engine="pyarrow"))
    return path


def cache_entries() -> list[tuple[str, Path]]:
    """``(ticker, path)`` for every Parquet file in the cache folder, sorted by ticker."""
    folder = cache_dir()
    if not folder.is_dir():
        return []
    return sorted((decode_ticker(p.stem), p) for p in folder.glob("*.parquet"))


def cached_tickers() -> list[str]:
    return [ticker for ticker, _ in cache_entries()]
