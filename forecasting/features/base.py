"""Shared helpers of the feature builders: month arithmetic, the as-of mask and the output grids.

Every builder has the signature
``build_xxx(panel, *, h, as_of, scenario=None, **params) -> (train_df, future_df)``:
``train_df`` holds one row per panel (unique_id, ds) with ds <= as_of, ``future_df`` one row per
series (known at as_of) for each of the h months after as_of; both carry unique_id, ds and the
builder's feature columns, sorted by unique_id, ds. Nothing after as_of may influence them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from forecasting.schema import ID_COL, STATUS_COL, TARGET_COL, TIME_COL, validate_panel

Builder = Callable[..., tuple[pd.DataFrame, pd.DataFrame]]
KEYS: tuple[str, str] = (ID_COL, TIME_COL)


def to_month(value: pd.Timestamp | str) -> pd.Timestamp:
    """Normalise a date-like value to the start of its month."""
    return pd.Timestamp(value).to_period("M").to_timestamp()


def month_number(ds: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray | int:
    """Months since year 0 (year * 12 + month - 1): integer month arithmetic without offsets."""
    if isinstance(ds, pd.Timestamp):
        return ds.year * 12 + ds.month - 1
    ds = pd.DatetimeIndex(ds)
    return np.asarray(ds.year * 12 + ds.month - 1, dtype=np.int64)


def from_month_number(months: np.ndarray | int) -> pd.DatetimeIndex:
    """Inverse of `month_number`: month-start timestamps."""
    months = np.atleast_1d(np.asarray(months, dtype=np.int64))
    return pd.DatetimeIndex(pd.PeriodIndex.from_ordinals(months - 1970 * 12, freq="M")
                            .to_timestamp())


def future_months(as_of: pd.Timestamp | str, h: int) -> pd.DatetimeIndex:
    """The h month starts after as_of."""
    if h < 1:
        raise ValueError(f"h must be a positive number of months, got {h}")
    return pd.date_range(to_month(as_of) + pd.offsets.MonthBegin(1), periods=h, freq="MS")


def mask_after(panel: pd.DataFrame, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """Validated, sorted copy of the panel with y and status blanked after as_of (not yet known)."""
    out = validate_panel(panel)
    late = out[TIME_COL] > to_month(as_of)
    out[TARGET_COL] = out[TARGET_COL].mask(late)
    out[STATUS_COL] = out[STATUS_COL].astype(object).mask(late)
    return out


def train_keys(panel: pd.DataFrame, as_of: pd.Timestamp | str) -> pd.DataFrame:
    """The (unique_id, ds) rows of the panel at or before as_of, sorted."""
    keys = panel.loc[pd.to_datetime(panel[TIME_COL]) <= to_month(as_of), list(KEYS)].copy()
    keys[TIME_COL] = pd.to_datetime(keys[TIME_COL])
    return keys.drop_duplicates().sort_values(list(KEYS), ignore_index=True)


def future_keys(panel: pd.DataFrame, as_of: pd.Timestamp | str, h: int) -> pd.DataFrame:
    """Each series with data at or before as_of, crossed with the h months after as_of."""
    ids = np.sort(train_keys(panel, as_of)[ID_COL].unique())
    months = future_months(as_of, h)
    return pd.DataFrame({ID_COL: np.repeat(ids, len(months)),
                         TIME_COL: np.tile(months, len(ids))})


def split_frame(features: pd.DataFrame, panel: pd.DataFrame, *, h: int,
                as_of: pd.Timestamp | str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cut a frame keyed by (unique_id, ds), or by ds alone, into the contract's (train, future)."""
    on = [c for c in KEYS if c in features.columns]
    train = train_keys(panel, as_of).merge(features, on=on, how="left")
    future = future_keys(panel, as_of, h).merge(features, on=on, how="left")
    return train, future
