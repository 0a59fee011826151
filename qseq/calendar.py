"""The NYSE trading calendar (full-day closures), for dating forecasts of future bars."""

from __future__ import annotations

import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)
from pandas.tseries.offsets import CustomBusinessDay


class NYSECalendar(AbstractHolidayCalendar):
    """Regular NYSE holidays (one-off closures such as 2012-10-29 are not included)."""

    rules = [
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01",
                observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas", month=12, day=25, observance=nearest_workday),
    ]


_BDAY = CustomBusinessDay(calendar=NYSECalendar())


def next_trading_days(after: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    """The ``count`` NYSE trading days strictly after ``after``."""
    start = pd.Timestamp(after).normalize() + _BDAY
    return pd.date_range(start, periods=count, freq=_BDAY)
