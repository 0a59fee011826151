"""Known-future calendar inputs: known answers, shapes in windows, no dependence on later rows."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.data.calendar_features import (
    calendar_features,
    future_columns,
    future_dates,
    future_inputs,
    future_size,
    warn_if_not_nyse,
)
from qseq.data.windows import make_windows
from qseq.errors import ConfigError, DataError

ALL = ("day_of_week", "month", "gap_days", "turn_of_month")


def days(*texts: str) -> np.ndarray:
    return np.array(texts, dtype="datetime64[D]")


def test_future_dates_follow_the_nyse_calendar():
    got = future_dates(days("2024-03-28", "2024-12-31", "2023-06-30", "2024-03-30"), (1, 2, 3))
    want = [["2024-04-01", "2024-04-02", "2024-04-03"],  # Good Friday 2024-03-29 is closed
            ["2025-01-02", "2025-01-03", "2025-01-06"],  # New Year, then a weekend
            ["2023-07-03", "2023-07-05", "2023-07-06"],  # Independence Day
            ["2024-04-01", "2024-04-02", "2024-04-03"]]  # a Saturday anchor counts from Monday
    assert (got == np.array(want, dtype="datetime64[D]")).all()
    sparse = future_dates(days("2024-03-28"), (1, 5))
    assert (sparse == days("2024-04-01", "2024-04-05")[None]).all()


def test_calendar_features_known_answers():
    sessions = days("2024-04-01", "2024-04-02", "2024-04-03", "2024-04-04", "2024-04-30",
                    "2024-05-01")
    f = calendar_features(sessions, ALL)
    assert f.shape == (6, future_size(ALL)) == (6, 6)
    assert future_columns(ALL) == ["day_of_week_sin", "day_of_week_cos", "month_sin", "month_cos",
                                   "gap_days", "turn_of_month"]
    dow = np.array([0, 1, 2, 3, 1, 2])  # Mon Tue Wed Thu Tue Wed
    np.testing.assert_allclose(f[:, 0], np.sin(2 * np.pi * dow / 5), atol=1e-6)
    np.testing.assert_allclose(f[:, 1], np.cos(2 * np.pi * dow / 5), atol=1e-6)
    month = np.array([3, 3, 3, 3, 3, 4])  # April = 3 (January = 0)
    np.testing.assert_allclose(f[:, 2], np.sin(2 * np.pi * month / 12), atol=1e-6)
    assert f[:, 4].tolist() == [3, 0, 0, 0, 0, 0]  # 2024-04-01 follows Good Friday + weekend
    assert f[:, 5].tolist() == [1, 1, 1, 0, 1, 1]  # first three, last of April, first of May


def test_future_inputs_shape_and_bad_names():
    x = future_inputs(days("2020-01-02", "2020-01-03"), (1, 2, 3, 4, 5), ("month", "gap_days"))
    assert x.shape == (2, 5, 3) and x.dtype == np.float32
    with pytest.raises(ConfigError, match="unknown known-future features.*'weekday'"):
        future_size(("weekday",))
    with pytest.raises(ConfigError, match="listed twice"):
        future_size(("month", "month"))
    with pytest.raises(DataError, match="2024-03-29 is not a session of XNYS"):
        calendar_features(days("2024-03-29"), ("month",))


def test_windows_carry_the_future_inputs_of_their_anchors(spx_small):
    w = make_windows(spx_small, ("log_return",), 10, (1, 2, 3), future_features=ALL)
    fx = w.future_x
    assert fx.shape == (len(w), 3, 6)
    np.testing.assert_array_equal(fx, future_inputs(w.anchor_date, (1, 2, 3), ALL))
    plain = make_windows(spx_small, ("log_return",), 10, (1, 2, 3))
    assert plain.future_x is None and np.array_equal(plain.anchors, w.anchors)
    assert w.subset(np.arange(5)).future_x.shape == (5, 3, 6)


def test_future_inputs_never_read_later_rows(spx_small):
    """They come from the anchor date and the exchange calendar: cutting the panel (or
    perturbing later bars) leaves every earlier window's inputs unchanged, and the last bar of
    a panel gets inputs for dates beyond it."""
    full = make_windows(spx_small, ("log_return",), 10, (1, 2), require_targets=False,
                        future_features=ALL)
    cut = spx_small.iloc[:-50]
    part = make_windows(cut, ("log_return",), 10, (1, 2), require_targets=False,
                        future_features=ALL)
    np.testing.assert_array_equal(part.future_x, full.future_x[:len(part)])
    last = future_dates(part.anchor_date[-1:], (1, 2))[0]
    assert (last > cut.index.get_level_values("date").max().to_datetime64()).all()


def test_non_nyse_dates_are_reported():
    assert warn_if_not_nyse(days("2024-04-01", "2024-04-02")) is None
    weekends = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-03-01"))
    assert "not XNYS sessions" in warn_if_not_nyse(weekends)
    london = days("2020-11-25", "2020-11-26", "2020-11-27")  # 11-26: US Thanksgiving
    assert warn_if_not_nyse(london, exchange="XLON") is None
    assert "1 of 3 panel dates are not XNYS sessions (e.g. 2020-11-26)" in warn_if_not_nyse(london)


def test_one_off_closures_hurricane_sandy():
    """NYSE closed 2012-10-29..30: the session after Friday 10-26 is Wednesday 10-31, which
    follows a four-day gap and is the last session of October."""
    got = future_dates(days("2012-10-25", "2012-10-26", "2012-10-28"), (1, 2, 3))
    want = [["2012-10-26", "2012-10-31", "2012-11-01"],
            ["2012-10-31", "2012-11-01", "2012-11-02"],
            ["2012-10-31", "2012-11-01", "2012-11-02"]]  # a Sunday anchor
    np.testing.assert_array_equal(got, np.array(want, dtype="datetime64[D]"))
    f = calendar_features(days("2012-10-26", "2012-10-31", "2012-11-01", "2012-11-02",
                               "2012-11-05", "2012-11-06"), ("gap_days", "turn_of_month"))
    assert f[:, 0].tolist() == [0, 4, 0, 0, 2, 0]
    assert f[:, 1].tolist() == [0, 1, 1, 1, 1, 0]  # last of October, first three of November
    x = future_inputs(days("2012-10-26"), (1, 2), ("gap_days",))
    assert x[..., 0].tolist() == [[4, 0]]
    for closed in ("2012-10-29", "2012-10-30"):
        with pytest.raises(DataError, match=f"{closed} is not a session of XNYS"):
            calendar_features(days(closed), ("gap_days",))


def test_one_off_closures_september_2001():
    assert future_dates(days("2001-09-10"), (1,))[0, 0] == np.datetime64("2001-09-17")
    assert calendar_features(days("2001-09-17"), ("gap_days",))[0, 0] == 6


def test_another_exchange():
    """London closes 2020-12-25 and 2020-12-28 (Boxing Day observed); New York opens 12-28 and
    is closed on US Thanksgiving, a London session."""
    got = future_dates(days("2020-12-23"), (1, 2, 3), exchange="XLON")
    np.testing.assert_array_equal(got, days("2020-12-24", "2020-12-29", "2020-12-30")[None])
    assert calendar_features(days("2020-12-29"), ("gap_days",), exchange="XLON")[0, 0] == 4
    assert calendar_features(days("2020-12-29"), ("gap_days",))[0, 0] == 0
    x = future_inputs(days("2020-11-25"), (1,), ("gap_days",), exchange="XLON")
    assert x.shape == (1, 1, 1) and x[0, 0, 0] == 0  # 2020-11-26 follows 11-25 in London
    with pytest.raises(DataError, match="2020-11-26 is not a session of XNYS"):
        calendar_features(days("2020-11-26"), ("month",))
    with pytest.raises(ConfigError, match="unknown exchange calendar 'XNYZ'"):
        future_inputs(days("2020-11-25"), (1,), ("month",), exchange="XNYZ")


def test_dates_outside_the_calendar_window_raise():
    with pytest.raises(DataError, match="outside the XNYS calendar"):
        future_inputs(days("2100-01-04"), (1,), ("month",))
    with pytest.raises(DataError, match="outside the XNYS calendar"):
        future_inputs(days("1969-12-31"), (1,), ("month",))
    with pytest.raises(DataError, match="first session of the XNYS calendar window"):
        calendar_features(days("1970-01-02"), ("gap_days",))
