"""Backtest scores: MAE, RMSE, MASE, WAPE, bias, interval coverage and scaled pinball loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.schema import (
    CUTOFF_COL,
    ID_COL,
    LEVELS,
    REPORTED,
    SEASON_LENGTH,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    hi_col,
    lo_col,
)

METRICS: tuple[str, ...] = ("mae", "rmse", "mase", "wape", "bias", "coverage_80", "coverage_95",
                            "scaled_pinball")


def seasonal_scale(panel: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], *,
                   season_length: int = SEASON_LENGTH) -> pd.DataFrame:
    """In-sample MAE of the seasonal naive forecast per series, on history up to each cutoff.

    A series that never moved (all zeros) has scale 0: its MASE is undefined (NaN), not huge.
    """
    rows = []
    for cutoff in cutoffs:
        hist = panel.loc[panel[TIME_COL] <= cutoff].sort_values([ID_COL, TIME_COL])
        diff = hist.groupby(ID_COL)[TARGET_COL].diff(season_length).abs()
        scale = diff.groupby(hist[ID_COL]).mean()
        rows.append(pd.DataFrame({ID_COL: scale.index, CUTOFF_COL: cutoff,
                                  "scale": scale.where(scale > 1e-9).to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def cell_errors(backtest: pd.DataFrame, scale: pd.DataFrame, models: Sequence[str], *,
                levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """One row per model and forecast cell: error, scaled error, interval hits, pinball loss."""
    base = backtest.merge(scale, on=[ID_COL, CUTOFF_COL], how="left")
    keep = [ID_COL, TIME_COL, CUTOFF_COL, "horizon", STATUS_COL, TARGET_COL, "scale"]
    frames = []
    for model in models:
        cells = base[keep].copy()
        cells["model"] = model
        y, yhat = base[TARGET_COL].to_numpy(), base[model].to_numpy()
        cells["forecast"] = yhat
        cells["error"] = yhat - y
        pinball = np.zeros(len(base))
        for lv in levels:
            lo, hi = base[lo_col(model, lv)].to_numpy(), base[hi_col(model, lv)].to_numpy()
            cells[f"hit_{lv}"] = ((lo <= y) & (y <= hi)).astype(float)
            alpha = (100 - lv) / 200
            pinball += _pinball(y, lo, alpha) + _pinball(y, hi, 1 - alpha)
        cells["pinball"] = (pinball + _pinball(y, yhat, 0.5)) / (2 * len(levels) + 1)
        frames.append(cells.loc[~np.isnan(yhat)])
    return pd.concat(frames, ignore_index=True)


def _pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """Pinball (quantile) loss of quantile forecast `q` at level `tau`."""
    diff = y - q
    return np.maximum(tau * diff, (tau - 1) * diff)


def summarise(cells: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Aggregate cell errors into the metric table, with the count of scored cells."""
    g = cells.assign(
        abs_err=cells["error"].abs(), sq_err=cells["error"] ** 2,
        scaled=cells["error"].abs() / cells["scale"],
        scaled_pinball=cells["pinball"] / cells["scale"], abs_y=cells[TARGET_COL].abs(),
    ).groupby(list(by), sort=True)
    out = pd.DataFrame({
        "mae": g["abs_err"].mean(),
        "rmse": np.sqrt(g["sq_err"].mean()),
        "mase": g["scaled"].mean(),
        "wape": g["abs_err"].sum() / g["abs_y"].sum(),
        "bias": g["error"].mean(),
        "coverage_80": g["hit_80"].mean(),
        "coverage_95": g["hit_95"].mean(),
        "scaled_pinball": g["scaled_pinball"].mean(),
        "n_scored": g.size(),
    })
    return out.reset_index()


def score(cells: pd.DataFrame, *, only_reported: bool = True) -> pd.DataFrame:
    """Long metric table per model and series: model, unique_id, metric, value, n_scored."""
    if only_reported:
        cells = cells.loc[cells[STATUS_COL] == REPORTED]
    table = summarise(cells, ["model", ID_COL])
    return table.melt(id_vars=["model", ID_COL, "n_scored"], var_name="metric",
                      value_name="value")[["model", ID_COL, "metric", "value", "n_scored"]]
