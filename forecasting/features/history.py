"""Export-history features: lags, rolling statistics, year-on-year change, WORLD share, recency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.features.base import (
    KEYS,
    from_month_number,
    mask_after,
    month_number,
    split_frame,
    to_month,
)
from forecasting.schema import ESTIMATED, ID_COL, STATUS_COL, TARGET_COL, TIME_COL, WORLD

_MONTH = "_month"


def _month_grid(panel: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Every month from each series' first row (at or before `end`) up to `end`, joined to panel."""
    first = panel.groupby(ID_COL)[TIME_COL].min()
    first = first[first <= end]
    start = month_number(first.to_numpy())
    counts = month_number(end) - start + 1
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    months = np.repeat(start, counts) + offsets
    grid = pd.DataFrame({ID_COL: np.repeat(first.index.to_numpy(), counts),
                         TIME_COL: from_month_number(months), _MONTH: months})
    return grid.merge(panel, on=list(KEYS), how="left")


def _safe_ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den with a zero denominator giving NaN instead of inf."""
    return num / den.where(den != 0)


def build_history(panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp | str, scenario=None,
                  lags: Sequence[int] = (1, 2, 3, 12), windows: Sequence[int] = (3, 6, 12),
                  min_periods: int | None = None, est_window: int = 12,
                  world_id: str = WORLD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lag, rolling, yoy, WORLD-share, recency and estimated-input features of y, as known at as_of.

    Row t only uses y and status up to t-1 (and nothing after as_of):
    ``lag{k}`` = y_{t-k}; ``rolling_mean_{w}`` / ``rolling_std_{w}`` (ddof 1) over y_{t-w..t-1}
    with at least `min_periods` known values (default: the whole window);
    ``yoy`` = y_{t-1} / y_{t-13} - 1 (NaN when y_{t-13} is 0); ``share_world`` =
    y_{t-1} / WORLD_{t-1} (1 for WORLD itself, NaN when WORLD is absent or 0);
    ``months_since_nonzero`` = months from the last month with y > 0 up to t-1 (0 when y_{t-1} > 0,
    NaN before the first one; unreported months count as not non-zero);
    ``est_share_{est_window}`` = fraction of estimated cells among the panel rows in
    t-est_window..t-1; ``lag1_estimated`` = 1.0 if the cell t-1 is estimated, 0.0 if reported.

    Future rows (k months after as_of) keep a feature only when all the y it needs is known at
    as_of: ``lag{j}`` with j >= k, every other feature only for k = 1. The rest are NaN, for a
    recursive model to refill from its own forecasts. `scenario` is unused (history only).
    """
    as_of = to_month(as_of)
    known = mask_after(panel, as_of)
    grid = _month_grid(known, as_of + pd.offsets.MonthBegin(h))
    by_id = grid.groupby(ID_COL, sort=False)

    def lag(k: int) -> pd.Series:
        return by_id[TARGET_COL].shift(k)

    lag1 = lag(1)
    feats: dict[str, pd.Series] = {f"lag{k}": lag(k) for k in lags}
    min_lag: dict[str, int] = {f"lag{k}": k for k in lags}
    rolling_by_id = lag1.groupby(grid[ID_COL], sort=False)
    for w in windows:
        roll = rolling_by_id.rolling(w, min_periods=w if min_periods is None else min_periods)
        feats[f"rolling_mean_{w}"] = roll.mean().droplevel(0)
        feats[f"rolling_std_{w}"] = roll.std().droplevel(0)
    feats["yoy"] = _safe_ratio(lag1, lag(13)) - 1.0

    world = grid.loc[grid[ID_COL] == world_id].set_index(TIME_COL)[TARGET_COL].shift(1)
    feats["share_world"] = _safe_ratio(lag1, grid[TIME_COL].map(world))

    nonzero_month = grid[_MONTH].where(grid[TARGET_COL] > 0)
    last_nonzero = nonzero_month.groupby(grid[ID_COL], sort=False).ffill()
    feats["months_since_nonzero"] = grid[_MONTH] - 1 - last_nonzero.groupby(grid[ID_COL]).shift(1)

    estimated = (grid[STATUS_COL] == ESTIMATED).astype(float).where(grid[STATUS_COL].notna())
    est_lag1 = estimated.groupby(grid[ID_COL], sort=False).shift(1)
    feats[f"est_share_{est_window}"] = (
        est_lag1.groupby(grid[ID_COL], sort=False)
        .rolling(est_window, min_periods=1).mean().droplevel(0))
    feats["lag1_estimated"] = est_lag1

    out = pd.concat([grid[list(KEYS)], pd.DataFrame(feats)], axis=1)
    steps_ahead = grid[_MONTH] - month_number(as_of)
    for col in feats:
        out.loc[steps_ahead > min_lag.get(col, 1), col] = np.nan
    return split_frame(out, known, h=h, as_of=as_of)
