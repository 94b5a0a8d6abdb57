"""Demand-driver features: yearly or monthly driver figures as point-in-time monthly values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.drivers import load_demand_drivers
from forecasting.features.base import (
    future_months,
    month_number,
    split_frame,
    to_month,
    train_keys,
)
from forecasting.schema import ID_COL, TIME_COL

# driver name in the data -> short name used in the column `drv_<short name>`
DEFAULT_DRIVERS: dict[str, str] = {
    "share_of_rare_earth_magnet_demand:NEV": "nev_share_magnet_demand",
    "China_NEV_share_of_new_car_sales_CAAM": "china_nev_share_car_sales",
    "global_NEV_penetration_CPCA": "global_nev_penetration",
    "China_NEV_sales_CAAM": "china_nev_sales",
}
# drivers whose yearly / quarterly figures are totals: divided by 12 / 3 into a monthly rate
DEFAULT_FLOWS: tuple[str, ...] = ("China_NEV_sales_CAAM",)
PREFIX = "drv_"

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def short_name(driver: str) -> str:
    """Short column stem of a driver: the default table's, else a lower-case slug."""
    return DEFAULT_DRIVERS.get(driver) or re.sub(r"[^a-z0-9]+", "_", driver.lower()).strip("_")


def parse_period(period: str) -> tuple[int, int, int] | None:
    """(anchor month, last month, months covered) of a period; None for ranges like 'A..B'.

    A year is anchored at its July (mid-year), a quarter at its last month, a month at itself.
    Months are `month_number` integers.
    """
    if match := _YEAR.match(period):
        year = int(match[1])
        return year * 12 + 6, year * 12 + 11, 12
    if match := _MONTH.match(period):
        month = int(match[1]) * 12 + int(match[2]) - 1
        return month, month, 1
    if match := _QUARTER.match(period):
        last = int(match[1]) * 12 + 3 * int(match[2]) - 1
        return last, last, 3
    return None


def driver_anchors(data: pd.DataFrame, drivers: Sequence[str], *,
                   flows: Sequence[str] = DEFAULT_FLOWS,
                   publication_lag: int = 1) -> pd.DataFrame:
    """Anchor points (driver, anchor, known_from, value) of single-period figures of `drivers`.

    A figure is known from `publication_lag` months after its period ends (a 2025 figure from
    2026-01, a 2025-10 figure from 2025-11 with the default 1). Ranges are skipped.
    """
    rows = data.loc[data["driver"].isin(drivers)]
    absent = sorted(set(drivers) - set(rows["driver"]))
    if absent:
        raise ValueError(f"demand drivers not in the data: {absent}")
    parsed = [parse_period(str(p).strip()) for p in rows["period"]]
    keep = np.array([p is not None for p in parsed], dtype=bool)
    spans = np.array([p for p in parsed if p is not None], dtype=np.int64).reshape(-1, 3)
    rows = rows.loc[keep]
    divisor = np.where(rows["driver"].isin(flows), spans[:, 2], 1)
    return pd.DataFrame({
        "driver": rows["driver"].to_numpy(),
        "anchor": spans[:, 0],
        "known_from": spans[:, 1] + publication_lag,
        "value": rows["value"].to_numpy(dtype=float) / divisor,
    })


def known_value(anchors: pd.DataFrame, *, month: int, known_at: int) -> float:
    """Value at `month` from the anchors known at `known_at`: interpolated, then carried forward.

    NaN before the first known anchor; never extrapolates a trend. Anchors sharing a month are
    averaged.
    """
    known = anchors.loc[anchors["known_from"] <= known_at].groupby("anchor")["value"].mean()
    if known.empty:
        return np.nan
    return float(np.interp(month, known.index.to_numpy(), known.to_numpy(), left=np.nan))


def build_drivers(panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp | str, scenario=None,
                  drivers: Sequence[str] | Mapping[str, str] | None = None,
                  data: pd.DataFrame | str | Path | None = None,
                  flows: Sequence[str] = DEFAULT_FLOWS, publication_lag: int = 1,
                  exposure: Mapping[str, Mapping[str, float]] | None = None,
                  exposure_default: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly `drv_<short name>` columns, each month t using only figures known by min(t, as_of).

    `drivers`: data names (short names from DEFAULT_DRIVERS or a slug) or a {name: short name}
    mapping; default DEFAULT_DRIVERS. `data`: a frame shaped like
    `forecasting.data.drivers.load_demand_drivers()` or a path for it (default: bundled file).
    Known anchors (years at mid-year, quarters at their last month) are linearly interpolated and
    the last known value is carried forward; months before the first known figure are NaN.
    `exposure` = {short name: {unique_id: weight}} adds `drv_<short name>_x_exposure` (value times
    weight, `exposure_default` for unlisted series). `scenario` is unused.
    """
    as_of = to_month(as_of)
    names = dict(drivers) if isinstance(drivers, Mapping) else (
        {d: short_name(d) for d in drivers} if drivers is not None else dict(DEFAULT_DRIVERS))
    frame = data if isinstance(data, pd.DataFrame) else load_demand_drivers(data)
    anchors = driver_anchors(frame, list(names), flows=flows, publication_lag=publication_lag)
    months = pd.concat([train_keys(panel, as_of)[TIME_COL], pd.Series(future_months(as_of, h))])
    months = pd.DatetimeIndex(months.drop_duplicates().sort_values())
    as_of_n = month_number(as_of)
    features = pd.DataFrame({TIME_COL: months})
    for driver, short in names.items():
        own = anchors.loc[anchors["driver"] == driver]
        features[PREFIX + short] = [known_value(own, month=m, known_at=min(m, as_of_n))
                                    for m in month_number(months)]
    train, future = split_frame(features, panel, h=h, as_of=as_of)
    unknown = sorted(set(exposure or {}) - set(names.values()))
    if unknown:
        raise ValueError(f"exposure names unknown driver short name(s) {unknown}; "
                         f"known: {sorted(names.values())}")
    for short, weights in (exposure or {}).items():
        for df in (train, future):
            weight = df[ID_COL].map(dict(weights)).fillna(exposure_default).astype(float)
            df[f"{PREFIX}{short}_x_exposure"] = df[PREFIX + short] * weight
    return train, future
