"""The yfinance adapter (qseq.data.yahoo) and the source fallbacks of load_prices, all offline:
``_call_download`` is replaced by fakes that return the frame shapes yfinance 1.x really returns."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.data import cache, yahoo
from qseq.errors import SourceError

from ._helpers import history_bars, yf_download_frame

RATE_LIMIT = "['SPY']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
# The real function, taken at import: tests/conftest.py replaces it with an offline stub per test.
REAL_CALL_DOWNLOAD = yahoo._call_download
DELISTED = "['{t}']: YFPricesMissingError('possibly delisted; no price data found  (period=1mo)')"


@pytest.fixture(scope="module")
def gspc(sp500) -> pd.DataFrame:
    """60 real ^GSPC bars renamed SPY: the values a fake download hands back."""
    return sp500.iloc[-60:].rename(index={"^GSPC": "SPY"}, level="ticker")


@pytest.fixture
def bars(gspc) -> pd.DataFrame:
    return history_bars(gspc, "SPY")


class FakeDownload:
    """Stands in for ``_call_download``: replays a script of results (frame, exception, or a
    ``(frame, log_message)`` pair that is logged on the 'yfinance' logger first)."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[tuple] = []

    def __call__(self, yf, ticker, start, end, timeout):
        self.calls.append((ticker, start, end, timeout))
        item = self.script[min(len(self.calls), len(self.script)) - 1]
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, tuple):
            frame, message = item
            logging.getLogger("yfinance").error(message)
            return frame
        return item


@pytest.fixture
def fake(monkeypatch):
    def install(*script) -> FakeDownload:
        f = FakeDownload(*script)
        monkeypatch.setattr(yahoo, "_call_download", f)
        return f

    return install


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


# -- frame shapes ----------------------------------------------------------------------------


def test_multiindex_column_frame(fake, bars, gspc):
    frame = yf_download_frame({"SPY": bars})
    assert list(frame.columns.names) == ["Price", "Ticker"]
    f = fake(frame)
    panel = yahoo.fetch_yahoo("SPY", "2018-08-01", "2018-12-31", sleep=Sleeps())
    pd.testing.assert_frame_equal(panel, gspc, check_exact=True)
    assert f.calls == [("SPY", "2018-08-01", "2018-12-31", 10.0)]


def test_flat_frame(fake, bars, gspc):
    frame = yf_download_frame({"SPY": bars}, multi_level_index=False)
    assert list(frame.columns) == ["Close", "High", "Low", "Open", "Volume"]
    fake(frame)
    pd.testing.assert_frame_equal(yahoo.fetch_yahoo("spy", sleep=Sleeps()),
                                  gspc, check_exact=True)


def test_adj_close_frame_is_adjusted(fake, bars, gspc):
    unadjusted = bars.copy()
    factor = np.linspace(0.5, 1.0, len(bars))  # dividends/splits: adj = close * factor
    unadjusted.insert(4, "Adj Close", bars["Close"] * factor)
    frame = yf_download_frame({"SPY": unadjusted})
    assert "Adj Close" in frame.columns.get_level_values("Price")
    fake(frame)
    panel = yahoo.fetch_yahoo("SPY", sleep=Sleeps())
    np.testing.assert_array_equal(panel["close"], (bars["Close"] * factor).to_numpy())
    for col in ("open", "high", "low"):
        want = gspc[col].to_numpy() * (bars["Close"] * factor).to_numpy() / bars["Close"].to_numpy()
        np.testing.assert_allclose(panel[col], want, rtol=1e-15)
    np.testing.assert_array_equal(panel["volume"], gspc["volume"])


def test_tz_aware_frame(fake, bars, gspc):
    frame = yf_download_frame({"SPY": bars}, tz="America/New_York")
    assert frame.index.tz is not None
    fake(frame)
    panel = yahoo.fetch_yahoo("SPY", sleep=Sleeps())
    assert panel.index.get_level_values("date").tz is None
    pd.testing.assert_frame_equal(panel, gspc, check_exact=True, check_index_type=False)


def test_rows_without_close_are_dropped(fake, bars, gspc):
    frame = yf_download_frame({"SPY": bars})
    frame.iloc[3, list(frame.columns.get_level_values("Price")).index("Close")] = np.nan
    fake(frame)
    panel = yahoo.fetch_yahoo("SPY", sleep=Sleeps())
    assert len(panel) == len(gspc) - 1
    assert gspc.index[3] not in panel.index


# -- the real call passes every flag -----------------------------------------------------------


def test_call_download_passes_every_flag_explicitly():
    seen = {}

    class FakeYf:
        def download(self, *args, **kwargs):
            seen["args"], seen["kwargs"] = args, kwargs
            return pd.DataFrame()

    assert REAL_CALL_DOWNLOAD.__module__ == "qseq.data.yahoo"
    REAL_CALL_DOWNLOAD(FakeYf(), "SPY", "2020-01-01", "2020-02-01", 7.5)
    kw = seen["kwargs"]
    assert seen["args"] == ("SPY",)
    expected = {"start": "2020-01-01", "end": "2020-02-01", "interval": "1d", "auto_adjust": True,
                "actions": False, "multi_level_index": True, "progress": False, "threads": False,
                "repair": False, "group_by": "column", "timeout": 7.5, "back_adjust": False,
                "keepna": False, "prepost": False}
    for key, value in expected.items():
        assert key in kw, key
        assert kw[key] == value and type(kw[key]) is type(value), key


def test_call_download_flags_exist_in_installed_yfinance():
    import inspect

    import yfinance as yf

    params = inspect.signature(yf.download).parameters
    for key in ("interval", "auto_adjust", "back_adjust", "actions", "repair", "keepna", "prepost",
                "rounding", "group_by", "multi_level_index", "ignore_tz", "threads", "progress",
                "timeout", "start", "end"):
        assert key in params, key


# -- retries -----------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_capped_backoff(fake, bars, gspc):
    f = fake(ConnectionError("Connection reset by peer"),
             (pd.DataFrame(), RATE_LIMIT),
             TimeoutError("Read timed out"),
             (pd.DataFrame(), RATE_LIMIT),
             yf_download_frame({"SPY": bars}))
    sleeps = Sleeps()
    panel = yahoo.fetch_yahoo("SPY", retries=4, backoff_s=1.5, max_backoff_s=5.0, sleep=sleeps)
    pd.testing.assert_frame_equal(panel, gspc, check_exact=True)
    assert sleeps == [min(1.5 * 2**k, 5.0) for k in range(4)] == [1.5, 3.0, 5.0, 5.0]
    assert len(f.calls) == 5


def test_exhausted_retries_raise_with_attempt_count(fake):
    f = fake((pd.DataFrame(), RATE_LIMIT))
    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        yahoo.fetch_yahoo("SPY", retries=3, backoff_s=2.0, max_backoff_s=10.0, sleep=sleeps)
    msg = str(info.value)
    assert "failed after 4 attempts" in msg and "'SPY'" in msg and "Rate limited" in msg
    assert "--offline" in msg
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(f.calls) == 4


def test_delisted_fails_at_once_naming_the_ticker(fake):
    f = fake((pd.DataFrame(), DELISTED.format(t="NOPEX")))
    sleeps = Sleeps()
    with pytest.raises(SourceError) as info:
        yahoo.fetch_yahoo("NOPEX", sleep=sleeps)
    assert "'NOPEX'" in str(info.value) and "no daily data" in str(info.value)
    assert sleeps == [] and len(f.calls) == 1


def test_empty_result_without_a_log_is_permanent(fake):
    f = fake(pd.DataFrame())
    sleeps = Sleeps()
    with pytest.raises(SourceError, match="no daily data for 'SPY' \\(empty result\\)"):
        yahoo.fetch_yahoo("SPY", sleep=sleeps)
    assert sleeps == [] and len(f.calls) == 1


@pytest.mark.parametrize("how", ["raised", "logged"])
def test_dns_failure_fails_at_once(fake, how):
    text = "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com"
    f = fake(ConnectionError(text) if how == "raised" else (pd.DataFrame(), f"['SPY']: {text}"))
    sleeps = Sleeps()
    with pytest.raises(SourceError, match="unreachable") as info:
        yahoo.fetch_yahoo("SPY", sleep=sleeps)
    assert "--offline" in str(info.value)
    assert sleeps == [] and len(f.calls) == 1


def test_capture_handler_is_removed(fake):
    logger = logging.getLogger("yfinance")
    n = len(logger.handlers)
    fake((pd.DataFrame(), RATE_LIMIT))
    with pytest.raises(SourceError):
        yahoo.fetch_yahoo("SPY", retries=2, sleep=Sleeps())
    assert len(logger.handlers) == n


def test_error_message_is_one_line_with_real_yfinance_log_records(monkeypatch):
    def download(yf, ticker, start, end, timeout):
        log = logging.getLogger("yfinance")
        log.error("\n1 Failed download:")  # exactly what yfinance 1.x multi.download logs
        log.error(DELISTED.format(t=ticker))
        return pd.DataFrame()

    monkeypatch.setattr(yahoo, "_call_download", download)
    with pytest.raises(SourceError) as info:
        yahoo.fetch_yahoo("NOPEX", sleep=Sleeps())
    assert "\n" not in str(info.value)


# -- through load_prices -------------------------------------------------------------------------


def test_auto_falls_back_to_bundled_proxy(fake, qseq_home, sp500):
    f = fake((pd.DataFrame(), DELISTED.format(t="SPY")))
    panel = qseq.load_prices("SPY", source="auto")
    assert len(f.calls) == 1
    assert panel.attrs["source"] == "bundled"
    assert panel.attrs["detail"] == "datasets/spx_daily_1999_2018_arch.csv.gz"
    (note,) = panel.attrs["notes"]
    assert "proxy" in note and "used the bundled sample instead" in note
    assert list(panel.index.get_level_values("ticker").unique()) == ["SPY"]
    np.testing.assert_array_equal(panel["close"], sp500["close"])
    assert not cache.cache_dir().exists()  # nothing cached from a failed download


def test_offline_skips_yfinance(fake, qseq_home):
    f = fake((pd.DataFrame(), DELISTED.format(t="SPY")))
    panel = qseq.load_prices("SPY", offline=True)
    assert f.calls == []
    assert panel.attrs["source"] == "bundled"
    assert all("used the bundled sample instead" not in n for n in panel.attrs["notes"])
    with pytest.raises(SourceError, match="needs the network"):
        qseq.load_prices("SPY", source="yfinance", offline=True)


def test_yfinance_source_unknown_ticker_raises_and_writes_nothing(fake, qseq_home):
    fake((pd.DataFrame(), DELISTED.format(t="ZZZZQ")))
    with pytest.raises(SourceError, match="'ZZZZQ'"):
        qseq.load_prices("ZZZZQ", source="yfinance")
    assert not qseq_home.exists() or not any(qseq_home.rglob("*"))


def test_auto_unknown_everywhere_lists_what_was_tried(fake, qseq_home):
    fake((pd.DataFrame(), DELISTED.format(t="ZZZZQ")))
    with pytest.raises(SourceError) as info:
        qseq.load_prices("ZZZZQ")
    msg = str(info.value)
    assert "no bundled data for 'ZZZZQ'" in msg and "also tried: cache (no file), yfinance:" in msg


def test_successful_download_is_cached_and_reused(fake, qseq_home, bars, gspc):
    f = fake(yf_download_frame({"SPY": bars}))
    first = qseq.load_prices("SPY", source="auto", start="2018-10-01", end="2018-12-31")
    assert first.attrs["source"] == "yfinance"
    assert len(f.calls) == 1
    ticker, start, end, _ = f.calls[0]
    assert (ticker, start, end) == ("SPY", "2018-10-01", "2019-01-01")  # yfinance end is exclusive
    assert cache.cached_tickers() == ["SPY"]
    pd.testing.assert_frame_equal(cache.read_cache("SPY"), gspc, check_exact=True)

    f.script = [(pd.DataFrame(), DELISTED.format(t="SPY"))]  # a second download would fail
    second = qseq.load_prices("SPY", source="auto", start="2018-10-01", end="2018-12-31")
    assert len(f.calls) == 1
    assert second.attrs["source"] == "cache"
    pd.testing.assert_frame_equal(second, first, check_exact=True)
    dates = second.index.get_level_values("date")
    assert dates.min() >= pd.Timestamp("2018-10-01") and dates.max() <= pd.Timestamp("2018-12-31")
