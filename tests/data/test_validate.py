"""Panel validation and the explicit repair policies (qseq.data.validate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qseq
from qseq.data.validate import apply_nan_policy, apply_ohlc_policy, validate_panel
from qseq.errors import DataError

from ._helpers import make_panel

D = pd.to_datetime(["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"])


def good_panel() -> pd.DataFrame:
    return make_panel({
        "AAA": [(D[0], 10, 11, 9, 10.5, 100), (D[1], 10.5, 12, 10, 11, 200),
                (D[2], 11, 11.5, 10.5, 11.2, 0), (D[3], 11.2, 11.4, 10.8, 11, 50)],
        "BBB": [(D[0], 50, 52, 49, 51, 1000), (D[1], 51, 51.5, 50, 50.5, 900),
                (D[2], 50.5, 53, 50, 52, 800), (D[3], 52, 52.5, 51, 51.5, 700)],
    })


def _set(panel: pd.DataFrame, date, ticker: str, col: str, value: float) -> pd.DataFrame:
    panel = panel.copy()
    panel.loc[(pd.Timestamp(date), ticker), col] = value
    return panel


def _error(panel: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        validate_panel(panel, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_good_panel_passes_with_summary():
    panel = good_panel()
    report = validate_panel(panel)
    assert report.ok and report.issues == []
    summary = report.summary
    assert list(summary.index) == ["AAA", "BBB"]
    assert list(summary["rows"]) == [4, 4]
    assert list(summary["start"]) == [D[0], D[0]]
    assert list(summary["end"]) == [D[3], D[3]]


def test_duplicate_row():
    panel = good_panel()
    panel = pd.concat([panel, panel.iloc[[5]]]).sort_index()
    msg = _error(panel)
    assert msg.startswith("BBB 2021-01-06 date: duplicate row")


def test_unsorted_index():
    panel = good_panel().iloc[::-1]
    msg = _error(panel)
    assert "date: index is not sorted" in msg and "sort_index()" in msg


def test_unsorted_index_names_first_out_of_order_row():
    panel = good_panel()
    order = list(range(len(panel)))
    order[4], order[5] = order[5], order[4]  # (2021-01-06, BBB) before (2021-01-06, AAA)
    msg = _error(panel.iloc[order])
    assert "AAA" in msg and "2021-01-06" in msg


def test_nan_names_ticker_date_column_and_policy():
    panel = _set(_set(good_panel(), D[2], "AAA", "close", np.nan), D[3], "BBB", "close", np.nan)
    msg = _error(panel)
    assert msg.startswith("AAA 2021-01-06 close: missing value (2 in total)")
    assert "nan_policy" in msg and "'drop'" in msg and "'ffill'" in msg


@pytest.mark.parametrize("col", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_non_positive_price(col, value):
    panel = good_panel()
    # Keep OHLC consistent so the only problem is the sign (low <= everything <= high).
    panel = _set(panel, D[1], "BBB", "low", value)
    if col != "low":
        panel = _set(panel, D[1], "BBB", col, value)
    report = validate_panel(panel, raise_on_error=False)
    msgs = [i.message() for i in report.issues]
    assert f"BBB 2021-01-05 {col}: price {value} is not positive; remove or correct the row" in msgs


def test_negative_volume():
    msg = _error(_set(good_panel(), D[3], "AAA", "volume", -5))
    assert msg.startswith("AAA 2021-01-07 volume: volume is negative")


def test_zero_volume_is_fine():
    assert validate_panel(_set(good_panel(), D[0], "AAA", "volume", 0.0)).ok


def test_high_below_body():
    msg = _error(_set(good_panel(), D[1], "BBB", "high", 50.9))  # open 51 > high
    assert msg.startswith("BBB 2021-01-05 high: high is below max(open, close) (1 rows)")
    assert "ohlc_policy" in msg


def test_low_above_body():
    msg = _error(_set(good_panel(), D[2], "AAA", "low", 11.1))  # open 11 < low
    assert msg.startswith("AAA 2021-01-06 low: low is above min(open, close) (1 rows)")
    assert "ohlc_policy" in msg


def test_ohlc_check_has_a_relative_tolerance():
    panel = _set(good_panel(), D[0], "AAA", "high", 10.5 * (1 - 1e-12))  # rounding noise only
    assert validate_panel(panel).ok


def test_too_few_rows_names_ticker_and_number_needed():
    panel = good_panel().drop(index=[(D[3], "BBB"), (D[2], "BBB")])
    msg = _error(panel, min_rows=3)
    assert msg.startswith("BBB rows: 2 rows, at least 3 needed")
    assert validate_panel(panel, min_rows=2).ok


def test_report_collects_every_issue():
    panel = good_panel()
    panel = _set(panel, D[0], "AAA", "close", np.nan)
    panel = _set(panel, D[1], "AAA", "volume", -1)
    panel = _set(panel, D[2], "BBB", "high", 1.0)
    panel = _set(panel, D[3], "BBB", "low", 60.0)
    report = validate_panel(panel, min_rows=5, raise_on_error=False)
    assert not report.ok
    got = {(i.ticker, None if i.date is None else i.date, i.column) for i in report.issues}
    assert got == {("AAA", D[0], "close"), ("AAA", D[1], "volume"), ("BBB", D[2], "high"),
                   ("BBB", D[3], "low"), ("AAA", None, "rows"), ("BBB", None, "rows")}
    assert list(report.summary["rows"]) == [4, 4]
    with pytest.raises(DataError, match=r"\(and 5 more issues\)$"):
        report.raise_if_failed()


def test_structural_problems():
    panel = good_panel()
    with pytest.raises(DataError, match="indexed by \\(date, ticker\\)"):
        validate_panel(panel.reset_index("ticker"))
    with pytest.raises(DataError, match="indexed by \\(date, ticker\\)"):
        validate_panel(panel.swaplevel().sort_index())
    tz = panel.copy()
    tz.index = tz.index.set_levels(tz.index.levels[0].tz_localize("UTC"), level="date")
    with pytest.raises(DataError, match="tz-naive"):
        validate_panel(tz)
    with pytest.raises(DataError, match="no close column"):
        validate_panel(panel.drop(columns="close"))


# -- NaN policy ------------------------------------------------------------------------------


def nan_panel() -> pd.DataFrame:
    # In date-major order a plain ffill would fill BBB from AAA and vice versa.
    return make_panel({
        "AAA": [(D[0], 1.0, 10.0), (D[1], np.nan, 20.0), (D[2], 3.0, np.nan), (D[3], np.nan, np.nan)],
        "BBB": [(D[0], np.nan, 5.0), (D[1], 6.0, np.nan), (D[2], np.nan, 7.0), (D[3], 8.0, 9.0)],
    }, columns=("close", "volume"))


def test_ffill_within_ticker_only_and_drops_leading_nan():
    panel = nan_panel()
    before = panel.copy()
    out = apply_nan_policy(panel, "ffill")
    pd.testing.assert_frame_equal(panel, before)  # not mutated
    want = make_panel({
        "AAA": [(D[0], 1.0, 10.0), (D[1], 1.0, 20.0), (D[2], 3.0, 20.0), (D[3], 3.0, 20.0)],
        "BBB": [(D[1], 6.0, 5.0), (D[2], 6.0, 7.0), (D[3], 8.0, 9.0)],
    }, columns=("close", "volume"))
    pd.testing.assert_frame_equal(out, want, check_exact=True)
    assert validate_panel(out).ok


def test_ffill_never_fills_backwards():
    panel = make_panel({"AAA": [(D[0], np.nan), (D[1], np.nan), (D[2], 3.0), (D[3], 4.0)]},
                       columns=("close",))
    out = apply_nan_policy(panel, "ffill")
    assert list(out.index.get_level_values("date")) == list(D[2:])
    np.testing.assert_array_equal(out["close"], [3.0, 4.0])


def test_drop_policy_removes_rows_with_any_nan():
    out = apply_nan_policy(nan_panel(), "drop")
    assert list(out.index) == [(D[0], "AAA"), (D[3], "BBB")]
    np.testing.assert_array_equal(out["close"], [1.0, 8.0])


def test_raise_policy_leaves_nan_for_validation():
    panel = nan_panel()
    out = apply_nan_policy(panel, "raise")
    pd.testing.assert_frame_equal(out, panel)
    with pytest.raises(DataError, match="nan_policy"):
        validate_panel(out)


def test_unknown_nan_policy():
    match = r"unknown nan_policy 'bfill'; choose one of \['raise', 'drop', 'ffill'\]"
    with pytest.raises(DataError, match=match):
        apply_nan_policy(nan_panel(), "bfill")


# -- OHLC policy -----------------------------------------------------------------------------


def bad_ohlc_panel() -> pd.DataFrame:
    panel = _set(good_panel(), D[1], "BBB", "high", 50.9)  # below open 51
    return _set(panel, D[2], "AAA", "low", 11.1)  # above open 11


def test_clip_widens_high_and_low_only_where_needed():
    panel = bad_ohlc_panel()
    before = panel.copy()
    out = apply_ohlc_policy(panel, "clip")
    pd.testing.assert_frame_equal(panel, before)  # not mutated
    want = _set(_set(panel, D[1], "BBB", "high", 51.0), D[2], "AAA", "low", 11.0)
    pd.testing.assert_frame_equal(out, want, check_exact=True)
    assert validate_panel(out).ok


def test_drop_removes_offending_rows_only():
    panel = bad_ohlc_panel()
    before = panel.copy()
    out = apply_ohlc_policy(panel, "drop")
    pd.testing.assert_frame_equal(panel, before)
    want = panel.drop(index=[(D[1], "BBB"), (D[2], "AAA")])
    pd.testing.assert_frame_equal(out, want, check_exact=True)
    assert validate_panel(out).ok


def test_raise_policy_and_close_only_panels_are_untouched():
    panel = bad_ohlc_panel()
    pd.testing.assert_frame_equal(apply_ohlc_policy(panel, "raise"), panel)
    close_only = panel[["close"]]
    for policy in ("clip", "drop"):
        pd.testing.assert_frame_equal(apply_ohlc_policy(close_only, policy), close_only)


def test_unknown_ohlc_policy():
    match = r"unknown ohlc_policy 'fix'; choose one of \['raise', 'clip', 'drop'\]"
    with pytest.raises(DataError, match=match):
        apply_ohlc_policy(good_panel(), "fix")


def test_load_prices_applies_policies_before_validation(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n"
                    "2021-01-04,10,11,9,10.5,100\n"
                    "2021-01-05,10.5,10.6,10,11,\n"  # high below close, volume missing
                    "2021-01-06,11,11.5,10.5,11.2,300\n")
    with pytest.raises(DataError, match="volume: missing value"):
        qseq.load_prices(path)
    panel = qseq.load_prices(path, nan_policy="ffill", ohlc_policy="clip")
    np.testing.assert_array_equal(panel["volume"], [100.0, 100.0, 300.0])
    np.testing.assert_array_equal(panel["high"], [11.0, 11.0, 11.5])
    dropped = qseq.load_prices(path, nan_policy="drop", ohlc_policy="raise")
    assert len(dropped) == 2


# -- what a repair changed is said, never silent ---------------------------------------------


def test_clip_and_drop_note_how_many_rows_and_the_first_dates():
    clipped = apply_ohlc_policy(bad_ohlc_panel(), "clip")
    assert clipped.attrs["notes"] == [
        "ohlc_policy='clip' clipped high/low on 2 rows of 2 tickers "
        "(first: BBB 2021-01-05, AAA 2021-01-06)"]
    dropped = apply_ohlc_policy(bad_ohlc_panel(), "drop")
    assert dropped.attrs["notes"] == [
        "ohlc_policy='drop' dropped 2 rows of 2 tickers (high/low do not contain open and close; "
        "first: BBB 2021-01-05, AAA 2021-01-06)"]
    assert "notes" not in apply_ohlc_policy(good_panel(), "raise").attrs
    assert apply_ohlc_policy(good_panel(), "clip").attrs["notes"] == []  # nothing to clip


def test_load_prices_with_clip_notes_the_rows_of_one_ticker(tmp_path, caplog):
    path = tmp_path / "spy.csv"
    rows = [f"2021-01-{d:02d},10,{9.5 if d in (5, 7, 11, 13) else 11},9,10.5,100"
            for d in (4, 5, 6, 7, 8, 11, 12, 13)]
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="high is below max"):
        qseq.load_prices(path)
    with caplog.at_level("INFO", logger="qseq.data.validate"):
        panel = qseq.load_prices(path, ohlc_policy="clip")
    note = ("ohlc_policy='clip' clipped high/low on 4 rows of SPY "
            "(first: 2021-01-05, 2021-01-07, 2021-01-11, ...)")
    assert panel.attrs["notes"] == [note]
    assert panel.attrs["source"] == "file" and panel.attrs["detail"] == str(path)
    assert note in caplog.text


def test_nan_policies_note_filled_and_dropped_rows():
    dropped = apply_nan_policy(nan_panel(), "drop")
    assert dropped.attrs["notes"] == [
        "nan_policy='drop' dropped 6 rows of 2 tickers (missing values; "
        "first: BBB 2021-01-04, AAA 2021-01-05, BBB 2021-01-05, ...)"]
    filled = apply_nan_policy(nan_panel(), "ffill")
    assert filled.attrs["notes"] == [
        "nan_policy='ffill' forward-filled 5 rows of 2 tickers "
        "(first: AAA 2021-01-05, BBB 2021-01-05, AAA 2021-01-06, ...)",
        "nan_policy='ffill' dropped 1 row of BBB (missing values with no earlier value; "
        "first: 2021-01-04)"]


def test_drop_short_tickers_keeps_the_named_ticker_and_the_provenance(two_stocks):
    from qseq.data.validate import drop_short_tickers

    dates = two_stocks.index.get_level_values("date")
    ticks = two_stocks.index.get_level_values("ticker")
    panel = two_stocks[(ticks == "AAPL") | (dates >= "2010-12-01")]  # MSFT: December only
    panel.attrs = {"source": "bundled"}
    n_msft = int((panel.index.get_level_values("ticker") == "MSFT").sum())
    out, short = drop_short_tickers(panel, n_msft + 1)
    assert short == ["MSFT"] and set(out.index.get_level_values("ticker")) == {"AAPL"}
    assert out.attrs == {"source": "bundled"} and len(panel) == len(out) + n_msft  # input untouched
    kept, none = drop_short_tickers(panel, n_msft + 1, keep=("MSFT",))
    assert none == [] and kept is panel
    same, none = drop_short_tickers(panel, n_msft)
    assert none == [] and same is panel
