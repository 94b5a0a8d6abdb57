"""Tests for the policy-calendar and demand-driver loaders."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from forecasting.data.drivers import load_demand_drivers, parse_value
from forecasting.data.policy_calendar import (
    EVENT_COLUMNS,
    load_policy_events,
    validate_policy_events,
)
from forecasting.schema import InputError

HEADER = ("announced,effective,ends,kind,direction,magnets,destinations,title,detail,scope,"
          "source_url\n")
GOOD = "2025-04-04,2025-04-04,,export_control,tighten,yes,ALL,t,d,s,https://x\n"


def _write(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_policy_events():
    events = load_policy_events()
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert len(events) == 30
    for col in ("announced", "effective", "ends"):
        assert events[col].dtype == "datetime64[ns]"
    assert events["ends"].isna().sum() == 22
    april = events[events["effective"] == "2025-04-04"].iloc[0]
    assert (april["kind"], april["direction"], april["magnets"]) == (
        "export_control", "tighten", "yes")
    assert set(" ".join(events["destinations"]).split()) >= {"ALL", "US", "JP", "EU", "GB"}


@pytest.mark.parametrize(("row", "column", "message"), [
    ("2025-13-01,2025-04-04,,export_control,tighten,yes,ALL,t,d,s,u\n", "announced",
     "cannot parse date"),
    ("2025-04-04,2025-04-04,2025-04-01,export_control,tighten,yes,ALL,t,d,s,u\n", "ends",
     "is not after effective"),
    ("2025-04-04,2025-04-04,,embargo,tighten,yes,ALL,t,d,s,u\n", "kind", "'embargo' not in"),
    ("2025-04-04,2025-04-04,,truce,loosen,yes,ALL,t,d,s,u\n", "direction", "'loosen' not in"),
    ("2025-04-04,2025-04-04,,truce,ease,maybe,ALL,t,d,s,u\n", "magnets", "'maybe' not in"),
    ("2025-04-04,2025-04-04,,truce,ease,yes,US XX,t,d,s,u\n", "destinations", "'XX'"),
])
def test_policy_event_errors_name_file_row_column(tmp_path, row, column, message):
    path = _write(tmp_path, HEADER + GOOD + row)
    with pytest.raises(InputError, match=message) as err:
        load_policy_events(path)
    assert str(err.value).startswith(f"{path}, row 1, column '{column}'")


def test_effective_before_announced_is_kept(tmp_path):
    path = _write(tmp_path, HEADER + "2025-05-12,2025-05-10,,truce,ease,partial,us kr,t,d,s,u\n")
    events = load_policy_events(path)
    assert events["effective"].iat[0] < events["announced"].iat[0]
    assert events["destinations"].iat[0] == "US KR"


def test_missing_column(tmp_path):
    path = _write(tmp_path, "announced,effective,kind\n2025-01-01,2025-01-01,truce\n")
    with pytest.raises(InputError, match=r"lack column\(s\) \['direction'"):
        load_policy_events(path)


def test_validate_scenario_style_events():
    df = pd.DataFrame({"announced": [dt.date(2026, 11, 10)], "effective": ["2026-11-10"],
                       "kind": ["export_control"], "direction": ["Tighten"], "magnets": ["yes"],
                       "destinations": ["ALL"]})
    events = validate_policy_events(df, source="scenario.yaml")
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["announced"].iat[0] == pd.Timestamp("2026-11-10")
    assert pd.isna(events["ends"].iat[0]) and events["title"].iat[0] == ""
    assert events["direction"].iat[0] == "tighten"


def test_bundled_demand_drivers():
    drivers = load_demand_drivers()
    assert list(drivers.columns) == [
        "period", "driver", "value", "approx", "unit", "source_url", "quote"]
    assert drivers["value"].dtype == float and drivers["approx"].dtype == bool
    assert {"2020", "2025-12", "2025-Q4", "2025-01..2025-10"} <= set(drivers["period"])
    ranged = drivers[drivers["driver"] == "global_high_performance_NdFeB_demand"].iloc[0]
    assert (ranged["value"], ranged["approx"]) == (65000.0, True)
    nev = drivers[drivers["driver"] == "share_of_rare_earth_magnet_demand:NEV"]
    assert nev.set_index("period")["value"].to_dict() == {"2020": 12.0, "2025": 28.0}
    assert drivers["approx"].sum() == 3


@pytest.mark.parametrize(("text", "expected"), [
    ("12.5", (12.5, False)), ("~30", (30.0, True)), ("60000-70000", (65000.0, True)),
    ("1,370", (1370.0, False))])
def test_parse_value(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize(("row", "column", "message"), [
    ("2025,x,about ten,percent,u,q\n", "value", "not a number"),
    ("2025-13,x,10,percent,u,q\n", "period", "is not YYYY"),
    ("25,x,10,percent,u,q\n", "period", "is not YYYY"),
])
def test_demand_driver_errors(tmp_path, row, column, message):
    path = _write(tmp_path, "year,driver,value,unit,source_url,quote\n2020,x,1,t,u,q\n" + row,
                  "drivers.csv")
    with pytest.raises(InputError, match=message) as err:
        load_demand_drivers(path)
    assert str(err.value).startswith(f"{path}, row 1, column '{column}'")


def test_demand_driver_missing_column(tmp_path):
    path = _write(tmp_path, "period,driver,value\n2020,x,1\n", "drivers.csv")
    with pytest.raises(InputError, match=r"lack column\(s\) \['unit'"):
        load_demand_drivers(path)
