"""Nowcast: split a known WORLD total across destinations whose detail is not out yet.

China customs publishes the headline total about a week before the country detail. For the
months where the total is known and the detail is not, the destination forecasts (made from the
detail's last month) are scaled top-down so they add up to the known total. Their intervals
come from the backtest: the relative errors the same split made on realised cells (split
conformal), which are narrower than the forecast's own bands because the total is no longer
uncertain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.models.base import clip_forecasts
from forecasting.schema import (
    CUTOFF_COL,
    DERIVED,
    ID_COL,
    LEVELS,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    hi_col,
    lo_col,
)

KIND_COL = "kind"
NOWCAST, FORECAST = "nowcast", "forecast"
KNOWN = (REPORTED, DERIVED)
MIN_CELLS = 8  # fewer realised split errors than this: keep the forecast's own (scaled) bands


def known_totals(raw: pd.DataFrame) -> pd.DataFrame:
    """WORLD figures (reported or derived) for months after the last month with any partner
    figure: the months a nowcast can fill. Columns ds, y; empty when the detail is complete."""
    known = raw.loc[raw[STATUS_COL].isin(KNOWN) & raw[TARGET_COL].notna()]
    partners = known.loc[known[ID_COL] != WORLD]
    world = known.loc[known[ID_COL] == WORLD]
    if partners.empty or world.empty:
        return pd.DataFrame({TIME_COL: pd.Series(dtype="datetime64[ns]"),
                             TARGET_COL: pd.Series(dtype=float)})
    later = world.loc[world[TIME_COL] > partners[TIME_COL].max()]
    return later[[TIME_COL, TARGET_COL]].sort_values(TIME_COL, ignore_index=True)


def _scale(frame: pd.DataFrame, totals: pd.DataFrame, col: str) -> pd.Series:
    """Per row, the factor that makes the non-WORLD `col` values of its month add up to the
    month's known total (NaN for months without one)."""
    bottom = frame.loc[frame[ID_COL] != WORLD]
    sums = bottom.groupby(TIME_COL)[col].sum()
    factor = totals.set_index(TIME_COL)[TARGET_COL] / sums.replace(0.0, np.nan)
    return frame[TIME_COL].map(factor)


def split_errors(backtest: pd.DataFrame, model: str, *, horizons: Sequence[int] = (1,),
                 ) -> pd.DataFrame:
    """Relative errors of the top-down split on the backtest: at each cutoff, the model's
    destination forecasts for the first `horizons` scaled to the realised WORLD figure, against
    the destinations' realised figures. Only cells whose actual is reported or derived, in
    months whose WORLD figure is too. Columns: unique_id, ds, cutoff, horizon, y, raw, split,
    rel_error ((y - split) / split)."""
    bt = backtest.loc[backtest["horizon"].isin(list(horizons))]
    world = bt.loc[(bt[ID_COL] == WORLD) & bt[STATUS_COL].isin(KNOWN),
                   [CUTOFF_COL, TIME_COL, TARGET_COL]]
    bottom = bt.loc[bt[ID_COL] != WORLD]
    sums = bottom.groupby([CUTOFF_COL, TIME_COL])[model].sum().rename("sum").reset_index()
    factor = world.merge(sums, on=[CUTOFF_COL, TIME_COL])
    factor["factor"] = factor[TARGET_COL] / factor["sum"].replace(0.0, np.nan)
    out = bottom.merge(factor[[CUTOFF_COL, TIME_COL, "factor"]], on=[CUTOFF_COL, TIME_COL])
    out = out.loc[out[STATUS_COL].isin(KNOWN) & out["factor"].notna()]
    out = out.assign(raw=out[model], split=out[model] * out["factor"])
    out = out.loc[out["split"] > 0]
    out["rel_error"] = (out[TARGET_COL] - out["split"]) / out["split"]
    return out[[ID_COL, TIME_COL, CUTOFF_COL, "horizon", TARGET_COL, "raw", "split",
                "rel_error"]].reset_index(drop=True)


def band_quantiles(errors: pd.DataFrame, levels: Sequence[int] = LEVELS,
                   ) -> dict[int, tuple[float, float]] | None:
    """Per level, the (lower, upper) quantiles of the split's relative errors (lower >= -1);
    None when there are fewer than MIN_CELLS errors to learn from."""
    rel = errors["rel_error"].to_numpy()
    if len(rel) < MIN_CELLS:
        return None
    out = {}
    for lv in levels:
        alpha = (1 - lv / 100) / 2
        lo, hi = np.quantile(rel, [alpha, 1 - alpha], method="higher")
        out[lv] = (max(float(lo), -1.0), float(hi))
    return out


def apply_nowcast(frame: pd.DataFrame, totals: pd.DataFrame, *, point: str,
                  bands: dict[int, tuple[float, float]] | None,
                  levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """The forecast frame with the months of `totals` nowcast: WORLD set to the known total
    (a zero-width band: it is a figure, not a forecast), the other series scaled to add up to
    it, bands from `bands` (relative error quantiles) or, without them, the forecast's own
    bands scaled alike. Adds the `kind` column (nowcast | forecast)."""
    out = frame.copy()
    out[KIND_COL] = FORECAST
    months = out[TIME_COL].isin(totals[TIME_COL])
    if not months.any():
        return out
    factor = _scale(out, totals, point)
    bottom = months & (out[ID_COL] != WORLD) & factor.notna()
    total = out[TIME_COL].map(totals.set_index(TIME_COL)[TARGET_COL])
    bounds = [f(point, lv) for lv in levels for f in (lo_col, hi_col)]
    for col in [point, *bounds]:
        out.loc[bottom, col] = out.loc[bottom, col] * factor[bottom]
    if bands is not None:
        for lv in levels:
            lo, hi = bands[lv]
            out.loc[bottom, lo_col(point, lv)] = out.loc[bottom, point] * (1 + lo)
            out.loc[bottom, hi_col(point, lv)] = out.loc[bottom, point] * (1 + hi)
    world = months & (out[ID_COL] == WORLD)
    for col in [point, *bounds]:
        out.loc[world, col] = total[world]
    out.loc[months & (factor.notna() | (out[ID_COL] == WORLD)), KIND_COL] = NOWCAST
    return clip_forecasts(out, [point], level=tuple(levels))
