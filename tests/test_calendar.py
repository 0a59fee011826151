from __future__ import annotations

import pandas as pd

from qseq.calendar import next_trading_days


def test_skips_weekends_and_nyse_holidays():
    days = next_trading_days(pd.Timestamp("2018-12-21"), 5)
    # Christmas 2018 (Tue) closed; 2019-01-01 closed
    assert [str(d.date()) for d in days] == ["2018-12-24", "2018-12-26", "2018-12-27",
                                               "2018-12-28", "2018-12-31"]


def test_good_friday_closed_columbus_day_open():
    assert pd.Timestamp("2019-04-19") not in next_trading_days(pd.Timestamp("2019-04-17"), 3)
    assert pd.Timestamp("2019-10-14") in next_trading_days(pd.Timestamp("2019-10-11"), 1)


def test_new_year_on_saturday_is_not_moved_to_friday():
    assert pd.Timestamp("2021-12-31") in next_trading_days(pd.Timestamp("2021-12-30"), 1)
