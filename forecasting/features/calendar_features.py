"""Calendar features known ahead: month of year and the Chinese New Year (Spring Festival)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.features.base import future_months, split_frame, train_keys
from forecasting.schema import TIME_COL

# Chinese New Year's Day (first day of the first lunar month), Gregorian date.
CNY_DATES: dict[int, str] = {
    2010: "2010-02-14", 2011: "2011-02-03", 2012: "2012-01-23", 2013: "2013-02-10",
    2014: "2014-01-31", 2015: "2015-02-19", 2016: "2016-02-08", 2017: "2017-01-28",
    2018: "2018-02-16", 2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12",
    2022: "2022-02-01", 2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29",
    2026: "2026-02-17", 2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13",
    2030: "2030-02-03", 2031: "2031-01-23", 2032: "2032-02-11", 2033: "2033-01-31",
    2034: "2034-02-19", 2035: "2035-02-08",
}
# Stylised 7-day Spring Festival holiday: New Year's Eve to the 6th day of the first month.
HOLIDAY_FIRST_DAY = -1
HOLIDAY_DAYS = 7

CALENDAR_COLUMNS: tuple[str, ...] = (
    "month", "month_sin", "month_cos", "cny_month", "cny_days_in_month")


def cny_holiday_days() -> pd.Series:
    """Number of Spring Festival holiday days per month start, over the CNY_DATES years."""
    days = pd.DatetimeIndex([
        pd.Timestamp(d) + pd.Timedelta(days=HOLIDAY_FIRST_DAY + i)
        for d in CNY_DATES.values() for i in range(HOLIDAY_DAYS)])
    return pd.Series(1, index=days.to_period("M").to_timestamp()).groupby(level=0).sum()


def calendar_frame(ds: pd.Series | pd.DatetimeIndex) -> pd.DataFrame:
    """Calendar feature columns for month starts `ds` (NaN CNY columns outside 2010-2035)."""
    ds = pd.DatetimeIndex(ds)
    years = sorted(CNY_DATES)
    covered = (ds.year >= years[0]) & (ds.year <= years[-1])
    cny_months = pd.DatetimeIndex(list(CNY_DATES.values())).to_period("M").to_timestamp()
    holiday = cny_holiday_days().reindex(ds, fill_value=0).to_numpy()
    angle = 2 * np.pi * (ds.month - 1) / 12
    return pd.DataFrame({
        TIME_COL: ds,
        "month": ds.month.astype(int),
        "month_sin": np.sin(angle),
        "month_cos": np.cos(angle),
        "cny_month": np.where(covered, ds.isin(cny_months).astype(float), np.nan),
        "cny_days_in_month": np.where(covered, holiday.astype(float), np.nan),
    })


def build_calendar(panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp | str,
                   scenario=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Month of year (1-12, sin, cos) and Chinese New Year month / holiday days, known ahead.

    Future rows are fully filled (within the 2010-2035 CNY table). `scenario` is unused.
    """
    months = pd.concat([train_keys(panel, as_of)[TIME_COL], pd.Series(future_months(as_of, h))])
    return split_frame(calendar_frame(months.drop_duplicates()), panel, h=h, as_of=as_of)
