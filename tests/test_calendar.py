"""Exchange calendars: known answers for regular holidays and one-off closures, another exchange,
the window's edges, unknown codes, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qseq.calendar import (
    get_calendar,
    next_trading_days,
    session_days,
    session_positions,
    sessions_after,
    sessions_between,
)
from qseq.errors import ConfigError, DataError


def dates(index: pd.DatetimeIndex) -> list[str]:
    return [str(d.date()) for d in index]


def test_skips_weekends_and_nyse_holidays():
    days = next_trading_days(pd.Timestamp("2018-12-21"), 5)
    # Christmas 2018 (Tue) closed; 2019-01-01 closed
    assert dates(days) == ["2018-12-24", "2018-12-26", "2018-12-27", "2018-12-28", "2018-12-31"]


def test_good_friday_closed_columbus_day_open():
    assert pd.Timestamp("2019-04-19") not in next_trading_days(pd.Timestamp("2019-04-17"), 3)
    assert pd.Timestamp("2019-10-14") in next_trading_days(pd.Timestamp("2019-10-11"), 1)


def test_new_year_on_saturday_is_not_moved_to_friday():
    assert pd.Timestamp("2021-12-31") in next_trading_days(pd.Timestamp("2021-12-30"), 1)


@pytest.mark.parametrize(("after", "want"), [
    ("2001-09-10", ["2001-09-17", "2001-09-18"]),  # closed 09-11..14 after the attacks
    ("2012-10-26", ["2012-10-31", "2012-11-01"]),  # Hurricane Sandy, 10-29..30
    ("2018-12-04", ["2018-12-06", "2018-12-07"]),  # George H. W. Bush day of mourning, 12-05
    ("2006-12-29", ["2007-01-03", "2007-01-04"]),  # New Year, then Gerald Ford, 01-02
    ("2004-06-10", ["2004-06-14", "2004-06-15"]),  # Ronald Reagan, Friday 06-11
    ("2025-01-08", ["2025-01-10", "2025-01-13"]),  # Jimmy Carter, 01-09
    ("1994-04-26", ["1994-04-28", "1994-04-29"]),  # Richard Nixon, 04-27
    ("1985-09-26", ["1985-09-30", "1985-10-01"]),  # Hurricane Gloria, 09-27
])
def test_one_off_nyse_closures(after, want):
    assert dates(next_trading_days(pd.Timestamp(after), 2)) == want


@pytest.mark.parametrize(("after", "want"), [
    ("2022-06-17", "2022-06-21"),  # Juneteenth observed Monday 06-20 (from 2022)
    ("2021-06-17", "2021-06-18"),  # ... but not in 2021 (federal holiday Friday 06-18; NYSE open)
    ("2024-03-28", "2024-04-01"),  # Good Friday
    ("2023-07-03", "2023-07-05"),  # Independence Day
    ("2019-01-18", "2019-01-22"),  # Martin Luther King Jr. Day
    ("2020-11-25", "2020-11-27"),  # Thanksgiving
    ("2022-12-23", "2022-12-27"),  # Christmas on Sunday, observed Monday
])
def test_regular_nyse_holidays(after, want):
    assert dates(next_trading_days(after, 1)) == [want]


def test_sessions_are_tz_naive_midnights_from_any_time_of_day():
    days = next_trading_days(pd.Timestamp("2012-10-26 15:59"), 3)
    assert isinstance(days, pd.DatetimeIndex) and days.tz is None
    assert (days == days.normalize()).all()
    assert dates(days) == ["2012-10-31", "2012-11-01", "2012-11-02"]
    assert len(next_trading_days("2012-10-26", 0)) == 0
    assert dates(next_trading_days(pd.Timestamp("2012-10-27"), 1)) == ["2012-10-31"]  # a Saturday


def test_sessions_between_and_after_agree():
    assert dates(sessions_between("2012-10-25", "2012-11-01")) == [
        "2012-10-25", "2012-10-26", "2012-10-31", "2012-11-01"]
    assert dates(sessions_between("2001-09-08", "2001-09-16")) == ["2001-09-10"]
    got = sessions_after(np.array(["2012-10-26", "2012-10-28"], dtype="datetime64[D]"), (1, 3))
    want = np.array([["2012-10-31", "2012-11-02"], ["2012-10-31", "2012-11-02"]],
                    dtype="datetime64[D]")
    np.testing.assert_array_equal(got, want)
    days = session_days()
    assert days.dtype == "datetime64[D]" and not days.flags.writeable
    assert np.datetime64("2012-10-29") not in days and np.datetime64("2012-10-31") in days
    assert days[session_positions(np.array(["2012-10-31"], dtype="datetime64[D]"))[0]] == \
        np.datetime64("2012-10-31")


def test_london_calendar():
    # 2020-12-25 (Fri) and Boxing Day observed on Monday 12-28 closed in London; NYSE opens 12-28
    assert dates(next_trading_days("2020-12-23", 3, exchange="XLON")) == [
        "2020-12-24", "2020-12-29", "2020-12-30"]
    assert dates(next_trading_days("2020-12-24", 1, exchange="XLON")) == ["2020-12-29"]
    assert dates(next_trading_days("2020-12-24", 1)) == ["2020-12-28"]
    # US Thanksgiving is a London session; the late-May bank holiday is not
    assert dates(next_trading_days("2020-11-25", 1, exchange="XLON")) == ["2020-11-26"]
    assert dates(next_trading_days("2021-05-28", 1, exchange="XLON")) == ["2021-06-01"]


def test_codes_are_case_insensitive_and_aliases_resolve():
    assert get_calendar("xnys") is get_calendar("NYSE") is get_calendar()
    assert get_calendar("xlon").name == "XLON"


def test_unknown_exchange_names_the_code_and_close_matches():
    with pytest.raises(ConfigError, match=r"unknown exchange calendar 'XNYZ'; did you mean .*XNYS"
                       ) as err:
        next_trading_days("2020-01-02", 1, exchange="XNYZ")
    assert "\n" not in str(err.value) and "XLON" in str(err.value)
    with pytest.raises(ConfigError, match="unknown exchange calendar 'moon'; use an ISO 10383"):
        get_calendar("moon")


def test_dates_outside_the_window_raise_instead_of_guessing():
    with pytest.raises(DataError, match=r"outside the XNYS calendar \(1970-01-02\.\."):
        next_trading_days("1965-03-01", 1)  # no regular holidays before 1970 in the library
    with pytest.raises(DataError, match="outside the XNYS calendar"):
        next_trading_days("2100-01-04", 1)
    with pytest.raises(DataError, match="outside the XNYS calendar"):
        sessions_between("2020-01-01", "2100-01-01")
    # a year and more ahead is inside the window: Christmas 2027 is a Saturday, observed Friday
    assert dates(next_trading_days("2027-12-23", 3)) == ["2027-12-27", "2027-12-28", "2027-12-29"]


def test_importing_the_module_does_not_import_exchange_calendars():
    code = "import json, sys, qseq.calendar\nprint(json.dumps('exchange_calendars' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    assert json.loads(done.stdout) is False
