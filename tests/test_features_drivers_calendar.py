"""Tests of the calendar and demand-driver feature builders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.features.calendar_features import CNY_DATES, build_calendar, calendar_frame
from forecasting.features.drivers import (
    build_drivers,
    driver_anchors,
    known_value,
    parse_period,
    short_name,
)

HEADER = "period,driver,value,unit,source_url,quote\n"
DRIVER_ROWS = [
    ("2020", "share_of_rare_earth_magnet_demand:NEV", "12"),
    ("2025", "share_of_rare_earth_magnet_demand:NEV", "28"),
    ("2024", "China_NEV_share_of_new_car_sales_CAAM", "40.9"),
    ("2025-10", "China_NEV_share_of_new_car_sales_CAAM", "51.6"),
    ("2025-12", "China_NEV_share_of_new_car_sales_CAAM", "52.3"),
    ("2024-Q4", "global_NEV_penetration_CPCA", "~20"),
    ("2024", "China_NEV_sales_CAAM", "12"),
    ("2025-01..2025-10", "China_NEV_sales_CAAM", "12.94"),
    ("2025-10", "China_NEV_sales_CAAM", "1.72"),
]


def write_drivers(path, rows=DRIVER_ROWS):
    """Write a demand-driver CSV in the bundled format and return its path."""
    lines = [f"{p},{d},{v},percent,https://example.org/src,quote" for p, d, v in rows]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def at(df: pd.DataFrame, ds: str, col: str, uid: str = "US") -> float:
    return df.loc[(df["unique_id"] == uid) & (df["ds"] == pd.Timestamp(ds)), col].iloc[0]


def monthly_panel(start="2019-01-01", end="2026-03-01", ids=("US", "DE")) -> pd.DataFrame:
    ds = pd.date_range(start, end, freq="MS")
    return pd.concat([pd.DataFrame({"unique_id": u, "ds": ds, "y": 1.0, "status": "reported"})
                      for u in ids], ignore_index=True)


# ---- calendar -------------------------------------------------------------------------------

def test_cny_table_known_dates_and_range():
    assert CNY_DATES[2024] == "2024-02-10"
    assert CNY_DATES[2025] == "2025-01-29"
    assert CNY_DATES[2026] == "2026-02-17"
    assert sorted(CNY_DATES) == list(range(2010, 2036))
    months = pd.to_datetime(list(CNY_DATES.values())).month
    assert set(months) <= {1, 2}


def test_cny_month_and_holiday_days_2024_to_2026():
    cal = calendar_frame(pd.date_range("2024-01-01", "2026-03-01", freq="MS")).set_index("ds")
    cny = cal.index[cal["cny_month"] == 1].strftime("%Y-%m").tolist()
    assert cny == ["2024-02", "2025-01", "2026-02"]
    # holiday = New Year's Eve + 6 days: 2025-01-28..2025-02-03 -> 4 days in Jan, 3 in Feb
    assert cal.loc["2025-01-01", "cny_days_in_month"] == 4
    assert cal.loc["2025-02-01", "cny_days_in_month"] == 3
    assert cal.loc["2024-02-01", "cny_days_in_month"] == 7
    assert cal.loc["2026-02-01", "cny_days_in_month"] == 7
    assert cal["cny_days_in_month"].sum() == 3 * 7


def test_month_encoding_and_outside_table_is_nan():
    cal = calendar_frame(pd.to_datetime(["2009-12-01", "2024-01-01", "2024-04-01"]))
    assert cal["month"].tolist() == [12, 1, 4]
    assert cal["month_sin"].iloc[1] == pytest.approx(0.0)
    assert cal["month_cos"].iloc[1] == pytest.approx(1.0)
    assert cal["month_sin"].iloc[2] == pytest.approx(1.0)
    assert np.isnan(cal["cny_month"].iloc[0]) and np.isnan(cal["cny_days_in_month"].iloc[0])


def test_calendar_future_rows_fully_filled(make_panel):
    panel = make_panel(n_series=2, start="2023-01", months=24)
    train, future = build_calendar(panel, h=14, as_of="2024-12-01")
    assert len(future) == 3 * 14 and len(train) == 3 * 24
    assert future.notna().all().all()
    assert at(future, "2025-01-01", "cny_month", uid="WORLD") == 1
    assert at(future, "2026-02-01", "cny_days_in_month", uid="US") == 7


# ---- drivers --------------------------------------------------------------------------------

def test_parse_period_and_short_names():
    assert parse_period("2025") == (2025 * 12 + 6, 2025 * 12 + 11, 12)        # July, December
    assert parse_period("2025-10") == (2025 * 12 + 9,) * 2 + (1,)
    assert parse_period("2025-Q4") == (2025 * 12 + 11,) * 2 + (3,)            # last month
    assert parse_period("2025-01..2025-10") is None
    assert short_name("share_of_rare_earth_magnet_demand:NEV") == "nev_share_magnet_demand"
    assert short_name("Wind share (GWEC)") == "wind_share_gwec"


def test_known_value_interpolates_and_carries_forward_never_extrapolates():
    anchors = pd.DataFrame({"anchor": [10, 20, 30], "known_from": [11, 21, 31],
                            "value": [1.0, 3.0, 4.0]})
    assert np.isnan(known_value(anchors, month=9, known_at=40))
    assert known_value(anchors, month=15, known_at=40) == pytest.approx(2.0)
    assert known_value(anchors, month=25, known_at=40) == pytest.approx(3.5)
    assert known_value(anchors, month=45, known_at=40) == pytest.approx(4.0)
    # anchor 30 not yet published at 29: carry 3.0 forward, no trend from (10, 1) -> (20, 3)
    assert known_value(anchors, month=35, known_at=29) == pytest.approx(3.0)
    assert np.isnan(known_value(anchors, month=15, known_at=10))


def test_publication_lag_and_carry_forward(tmp_path):
    path = write_drivers(tmp_path / "drivers.csv")
    train, future = build_drivers(monthly_panel(), h=3, as_of="2026-03-01", data=path)
    col = "drv_nev_share_magnet_demand"
    assert np.isnan(at(train, "2020-12-01", col))           # 2020 figure published 2021-01
    assert at(train, "2021-01-01", col) == 12
    assert at(train, "2025-06-01", col) == 12                # 2025 = 28% not known yet
    assert at(train, "2025-12-01", col) == 12
    assert at(train, "2026-01-01", col) == 28                # now it is
    assert (future[col] == 28).all()
    share = "drv_china_nev_share_car_sales"
    assert at(train, "2025-10-01", share) == 40.9            # October figure known from November
    assert at(train, "2025-11-01", share) == 51.6
    assert at(train, "2026-02-01", share) == 52.3
    assert np.isnan(at(train, "2024-12-01", "drv_global_nev_penetration"))  # Q4 from 2025-01
    assert at(train, "2025-01-01", "drv_global_nev_penetration") == 20


def test_flow_totals_become_monthly_rates_and_ranges_are_skipped(tmp_path):
    data = write_drivers(tmp_path / "drivers.csv")
    train, _ = build_drivers(monthly_panel(), h=1, as_of="2026-03-01", data=data,
                             drivers=["China_NEV_sales_CAAM"])
    assert at(train, "2025-06-01", "drv_china_nev_sales") == pytest.approx(1.0)    # 12 / 12
    assert at(train, "2025-11-01", "drv_china_nev_sales") == pytest.approx(1.72)
    raw, _ = build_drivers(monthly_panel(), h=1, as_of="2026-03-01", data=data, flows=(),
                           drivers={"China_NEV_sales_CAAM": "sales"})
    assert at(raw, "2025-06-01", "drv_sales") == pytest.approx(12.0)
    anchors = driver_anchors(pd.read_csv(data), ["China_NEV_sales_CAAM"])
    assert len(anchors) == 2                                    # the Jan..Oct range skipped


def test_future_uses_as_of_knowledge_only(tmp_path):
    data = write_drivers(tmp_path / "drivers.csv")
    panel = monthly_panel(end="2025-06-01")
    _, future = build_drivers(panel, h=12, as_of="2025-06-01", data=data)
    assert len(future) == 2 * 12
    assert (future["drv_nev_share_magnet_demand"] == 12).all()
    assert (future["drv_china_nev_share_car_sales"] == 40.9).all()


def test_driver_figures_after_cutoff_do_not_leak(tmp_path):
    cutoff = "2025-06-01"
    base_path = write_drivers(tmp_path / "base.csv")
    changed_rows = [(p, d, str(float(v.lstrip("~")) * 5)) if p.startswith("2025") else (p, d, v)
                    for p, d, v in DRIVER_ROWS]
    changed_rows += [("2026-01", "global_NEV_penetration_CPCA", "99"),
                     ("2025-06", "China_NEV_share_of_new_car_sales_CAAM", "77")]
    changed_path = write_drivers(tmp_path / "changed.csv", changed_rows)
    panel = monthly_panel()
    base = build_drivers(panel, h=6, as_of=cutoff, data=base_path)
    new = build_drivers(panel, h=6, as_of=cutoff, data=changed_path)
    for before, after in zip(base, new, strict=True):
        pd.testing.assert_frame_equal(before, after)
    later_base, _ = build_drivers(panel, h=6, as_of="2026-03-01", data=base_path)
    later_new, _ = build_drivers(panel, h=6, as_of="2026-03-01", data=changed_path)
    assert not later_base.equals(later_new)          # the changes matter once known


def test_exposure_weights_and_errors(tmp_path):
    data = write_drivers(tmp_path / "drivers.csv")
    train, future = build_drivers(
        monthly_panel(ids=("US", "DE", "JP")), h=2, as_of="2026-03-01", data=data,
        exposure={"nev_share_magnet_demand": {"DE": 2.0, "JP": 0.5}}, exposure_default=0.0)
    col = "drv_nev_share_magnet_demand_x_exposure"
    assert at(future, "2026-04-01", col, uid="DE") == 56
    assert at(future, "2026-04-01", col, uid="JP") == 14
    assert at(future, "2026-04-01", col, uid="US") == 0
    assert at(train, "2025-01-01", col, uid="DE") == 24
    with pytest.raises(ValueError, match="wind"):
        build_drivers(monthly_panel(), h=1, as_of="2026-03-01", data=data,
                      exposure={"wind": {"DE": 1.0}})
    with pytest.raises(ValueError, match="no_such_driver"):
        build_drivers(monthly_panel(), h=1, as_of="2026-03-01", data=data,
                      drivers=["no_such_driver"])


def test_bundled_drivers_nev_share_example():
    train, future = build_drivers(monthly_panel(), h=2, as_of="2026-03-01")
    col = "drv_nev_share_magnet_demand"
    assert at(train, "2025-06-01", col) == 12 and at(train, "2026-01-01", col) == 28
    assert list(train.columns) == ["unique_id", "ds", col, "drv_china_nev_share_car_sales",
                                   "drv_global_nev_penetration", "drv_china_nev_sales"]
    assert future[col].eq(28).all()
