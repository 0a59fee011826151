"""The yfinance adapter: download daily bars with every flag explicit, retry transient
failures with capped exponential backoff, and normalise every frame shape yfinance returns
(MultiIndex or flat columns, with or without ``Adj Close``, tz-aware or naive index)."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable

import pandas as pd

from qseq.data.schema import normalize_prices
from qseq.errors import SourceError

log = logging.getLogger(__name__)

_UNREACHABLE = ("could not resolve", "dnserror", "name or service not known",
                "temporary failure in name resolution", "network is unreachable")
_PERMANENT = ("delisted", "no data found", "not found", "no timezone found", "invalid",
              "no price data", "symbol may be")
_TRANSIENT = ("rate limit", "too many requests", "timed out", "timeout", "connection",
              "temporar", "502", "503", "504", "500", "failed to perform", "curl", "ssl",
              "resolve", "network", "reset by peer", "unavailable")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())  # yfinance logs multi-line text
        if text:
            self.messages.append(text)


def _classify(text: str) -> str:
    low = text.lower()
    if any(p in low for p in _UNREACHABLE):
        return "unreachable"
    if any(p in low for p in _PERMANENT):
        return "permanent"
    if any(p in low for p in _TRANSIENT):
        return "transient"
    return "unknown"


def _download(ticker: str, start: str | None, end: str | None, timeout: float) -> pd.DataFrame:
    import yfinance as yf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        return _call_download(yf, ticker, start, end, timeout)


def _call_download(yf, ticker: str, start: str | None, end: str | None, timeout: float):
    return yf.download(
        ticker,
        start=start,
        end=end,
        interval="1d",
        auto_adjust=True,
        back_adjust=False,
        actions=False,
        repair=False,
        keepna=False,
        prepost=False,
        rounding=False,
        group_by="column",
        multi_level_index=True,
        ignore_tz=True,
        threads=False,
        progress=False,
        timeout=timeout,
    )


def fetch_yahoo(
    ticker: str,
    start: str | None = None,
    end: str | None = None,
    *,
    retries: int = 4,
    backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    timeout_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Download daily bars for one ticker and return a canonical panel.

    Transient failures (timeouts, dropped connections, rate limits, 5xx) are retried up to
    ``retries`` times with backoff ``min(backoff_s * 2**k, max_backoff_s)``. An unknown or
    delisted ticker, an empty result, or no network at all (DNS failure) raises
    :class:`SourceError` at once.
    """
    yf_logger = logging.getLogger("yfinance")
    last = ""
    for attempt in range(retries + 1):
        capture = _Capture()
        yf_logger.addHandler(capture)
        try:
            frame = _download(ticker, start, end, timeout_s)
            error = " | ".join(capture.messages)
        except Exception as exc:  # yfinance and its HTTP stack raise many types
            frame, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            yf_logger.removeHandler(capture)
        if frame is not None and not frame.empty:
            panel = normalize_prices(frame, ticker=ticker, adjust=True)
            panel = panel.dropna(subset=["close"])
            if not panel.empty:
                return panel
        kind = _classify(error) if error else "permanent"
        last = error or "empty result"
        if kind in ("permanent", "unreachable") or attempt == retries:
            break
        delay = min(backoff_s * 2**attempt, max_backoff_s)
        log.warning("yfinance %s failed (%s); retry %d/%d in %.1fs",
                    ticker, last, attempt + 1, retries, delay)
        sleep(delay)
    if kind == "unreachable":
        log.debug("yfinance %s unreachable: %s", ticker, last)
        raise SourceError(
            "Yahoo Finance is unreachable (no network or DNS failure); "
            "use --offline for the cache and bundled data"
        )
    if kind == "permanent":
        raise SourceError(
            f"yfinance has no daily data for {ticker!r} ({last}); check the symbol "
            "(Yahoo spelling, e.g. BRK-B, ^GSPC) and the date range"
        )
    raise SourceError(
        f"yfinance download of {ticker!r} failed after {retries + 1} attempts ({last}); "
        "check the network or use --offline for the cache and bundled data"
    )
