"""The Parquet cache (qseq.data.cache): injective path-safe names, exact atomic round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qseq
from qseq.data import cache
from qseq.errors import DataError, SourceError

VALID = st.from_regex(r"[A-Z0-9^][A-Z0-9.^=\-_]{0,31}", fullmatch=True)
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(VALID)
def test_encode_decode_round_trip(ticker):
    assert cache.normalize_ticker(ticker) == ticker
    assert cache.decode_ticker(cache.encode_ticker(ticker)) == ticker


@PROPS
@given(VALID)
def test_cache_filename_is_path_safe(ticker):
    name = cache.cache_filename(ticker)
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert ".." not in name
    assert not name.startswith(".")
    assert re.fullmatch(r"[A-Z0-9%]+\.parquet", name), name
    # Same name on case-insensitive file systems: the encoding only uses upper-case letters.
    stem = name.removesuffix(".parquet")
    assert stem == stem.upper()
    assert Path(name).name == name and Path(name).stem == stem
    assert cache.decode_ticker(stem) == ticker


@PROPS
@given(VALID, VALID)
def test_distinct_tickers_give_distinct_filenames(a, b):
    if a != b:
        assert cache.cache_filename(a) != cache.cache_filename(b)
        assert cache.cache_filename(a).lower() != cache.cache_filename(b).lower()
    else:
        assert cache.cache_filename(a) == cache.cache_filename(b)


@pytest.mark.parametrize(("ticker", "encoded"), [
    ("SPY", "SPY"), ("spy", "SPY"), (" brk-b ", "BRK%2DB"), ("^GSPC", "%5EGSPC"),
    ("EURUSD=X", "EURUSD%3DX"), ("BRK.B", "BRK%2EB"), ("A_B", "A%5FB"),
])
def test_encode_examples(ticker, encoded):
    assert cache.encode_ticker(ticker) == encoded
    assert cache.cache_filename(ticker) == f"{encoded}.parquet"


@pytest.mark.parametrize("bad", ["../etc/passwd", "", "a b", "x" * 40, "SPY/2", ".hidden", "..",
                                 "A\\B", "A%2F", "-X", "SPY\x00"])
def test_invalid_tickers_raise(bad, qseq_home):
    with pytest.raises(DataError, match="invalid ticker"):
        cache.encode_ticker(bad)
    with pytest.raises(DataError, match="invalid ticker"):
        cache.cache_path(bad)
    with pytest.raises(DataError, match="invalid ticker"):
        cache.write_cache(bad, pd.DataFrame({"close": [1.0]}))
    assert not qseq_home.exists()


def test_non_string_ticker():
    with pytest.raises(DataError, match="ticker must be a string, got int"):
        cache.normalize_ticker(5)


def test_cache_dir_follows_qseq_home(qseq_home):
    assert cache.qseq_home() == qseq_home
    assert cache.cache_dir() == qseq_home / "cache" / "daily"
    assert cache.cache_path("^GSPC") == qseq_home / "cache" / "daily" / "%5EGSPC.parquet"


def test_default_home_is_dot_qseq(monkeypatch, tmp_path):
    monkeypatch.delenv("QSEQ_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.qseq_home() == tmp_path / ".qseq"


def test_round_trip_is_exact(qseq_home, sp500):
    panel = sp500.iloc[-300:].rename(index={"^GSPC": "SPY"}, level="ticker")
    assert cache.read_cache("SPY") is None
    path = cache.write_cache("SPY", panel)
    assert path == cache.cache_path("SPY") and path.is_file()
    back = cache.read_cache("spy")
    pd.testing.assert_frame_equal(back, panel, check_exact=True)
    assert back.index.get_level_values("date").dtype == panel.index.get_level_values("date").dtype
    assert list(back.index.names) == ["date", "ticker"]


def test_write_replaces_previous_version(qseq_home, sp500):
    cache.write_cache("SPY", sp500.iloc[:10])
    cache.write_cache("SPY", sp500.iloc[10:30])
    pd.testing.assert_frame_equal(cache.read_cache("SPY"), sp500.iloc[10:30], check_exact=True)
    assert sorted(p.name for p in cache.cache_dir().iterdir()) == ["SPY.parquet"]


@pytest.fixture
def failing_to_parquet(monkeypatch):
    """Make DataFrame.to_parquet write half a file to its target, then fail."""
    calls: list[Path] = []

    def broken(self, path, *args, **kwargs):
        calls.append(Path(path))
        Path(path).write_bytes(b"PAR1" + b"\x00" * 100)
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    return calls


def test_failed_write_keeps_previous_file_and_leaves_no_temp(qseq_home, sp500, monkeypatch):
    good = sp500.iloc[:50]
    target = cache.write_cache("^GSPC", good)
    before = target.read_bytes()
    calls: list[Path] = []

    def broken(self, path, *args, **kwargs):
        calls.append(Path(path))
        Path(path).write_bytes(before[: len(before) // 2])  # half a file, then the disk fills up
        raise OSError("No space left on device")

    with monkeypatch.context() as m:
        m.setattr(pd.DataFrame, "to_parquet", broken)
        with pytest.raises(OSError, match="No space left"):
            cache.write_cache("^GSPC", sp500.iloc[50:100])
    assert len(calls) == 1
    tmp = calls[0]
    assert tmp != target and tmp.parent == target.parent  # written beside the target, then renamed
    assert tmp.name.startswith(".") and tmp.name.endswith(".tmp")
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    pd.testing.assert_frame_equal(cache.read_cache("^GSPC"), good, check_exact=True)
    assert cache.cached_tickers() == ["^GSPC"]


def test_failed_first_write_leaves_nothing(qseq_home, sp500, failing_to_parquet):
    with pytest.raises(OSError):
        cache.write_cache("SPY", sp500.iloc[:5])
    assert len(failing_to_parquet) == 1
    assert list(cache.cache_dir().iterdir()) == []
    assert cache.read_cache("SPY") is None
    assert cache.cached_tickers() == []


def test_cached_tickers_lists_what_was_written(qseq_home, sp500):
    assert cache.cached_tickers() == []
    names = ["SPY", "^GSPC", "BRK-B", "EURUSD=X", "BRK.B"]
    for t in names:
        cache.write_cache(t, sp500.iloc[:3])
    assert cache.cached_tickers() == sorted(names)
    (cache.cache_dir() / "notes.txt").write_text("not a cache file")
    assert cache.cached_tickers() == sorted(names)


@pytest.mark.parametrize("content", [b"", b"garbage", b"PAR1" + b"\x00" * 64 + b"PAR1"],
                         ids=["empty", "garbage", "bad-footer"])
def test_corrupt_cache_file(qseq_home, content):
    path = cache.cache_path("SPY")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        cache.read_cache("SPY")
    msg = str(info.value)
    assert "'qseq data fetch SPY'" in msg and "delete it" in msg and str(path) in msg
    # load_prices surfaces it rather than silently using other data.
    with pytest.raises(DataError, match="qseq data fetch SPY"):
        qseq.load_prices("SPY", source="cache")
    with pytest.raises(DataError, match="qseq data fetch SPY"):
        qseq.load_prices("SPY", source="auto", offline=True)


def test_truncated_real_cache_file(qseq_home, sp500):
    path = cache.write_cache("SPY", sp500.iloc[:100])
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="qseq data fetch SPY"):
        cache.read_cache("SPY")


def test_load_prices_from_cache(qseq_home, sp500):
    with pytest.raises(SourceError, match="not in the cache; run 'qseq data fetch SPY' first"):
        qseq.load_prices("SPY", source="cache")
    cache.write_cache("SPY", sp500.rename(index={"^GSPC": "SPY"}, level="ticker"))
    panel = qseq.load_prices("spy", source="cache", start="2018-01-01")
    assert panel.attrs["source"] == "cache"
    assert panel.attrs["detail"] == str(cache.cache_path("SPY"))
    assert panel.index.get_level_values("date").min() == pd.Timestamp("2018-01-02")
    assert list(panel.index.get_level_values("ticker").unique()) == ["SPY"]


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"Date": pd.to_datetime(["2020-01-02"]), "Close": [1.0]}),  # a user's flat file
    pd.DataFrame({"close": [1.0]}, index=pd.MultiIndex.from_tuples(
        [(pd.Timestamp("2020-01-02"), "SPY")], names=["day", "symbol"])),
    pd.DataFrame({"open": [1.0]}, index=pd.MultiIndex.from_tuples(
        [(pd.Timestamp("2020-01-02"), "SPY")], names=["date", "ticker"])),
], ids=["flat", "index-names", "no-close"])
def test_cache_file_with_the_wrong_layout_is_one_line_naming_file_and_fix(qseq_home, frame):
    path = cache.cache_path("SPY")
    path.parent.mkdir(parents=True)
    frame.to_parquet(path)
    for load in (lambda: cache.read_cache("SPY"), lambda: qseq.load_prices("SPY", offline=True)):
        with pytest.raises(DataError) as info:
            load()
        msg = str(info.value)
        assert "\n" not in msg and str(path) in msg and "is not a qseq cache file" in msg
        assert msg.endswith("delete it or re-fetch with 'qseq data fetch SPY'")


def test_cache_entries_pair_tickers_with_their_files(qseq_home, sp500):
    assert cache.cache_entries() == []
    for t in ("SPY", "^GSPC"):
        cache.write_cache(t, sp500.iloc[:3])
    assert cache.cache_entries() == [("SPY", cache.cache_path("SPY")), ("^GSPC", cache.cache_path("^GSPC"))]
