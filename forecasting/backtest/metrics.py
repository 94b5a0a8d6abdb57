"""Backtest scores: point errors (MAE, RMSE, MASE, sMAPE, WAPE, bias) and interval scores
(coverage, MSIS, scaled CRPS), on the cells of a status scope.

Definitions (per cell, then averaged over the cells of a group):
- MASE: |y - f| / scale, scale = in-sample MAE of the seasonal naive forecast up to the cutoff.
- sMAPE: the M3/M4 definition 200 |y - f| / (|y| + |f|), 0 when both are 0 (= 200 x
  utilsforecast's `smape`).
- MSIS at level L (the M4 mean scaled interval score): ((hi - lo) + 2/a (lo - y)[y < lo]
  + 2/a (y - hi)[y > hi]) / scale with a = 1 - L/100 (utilsforecast's `winkler_score` / scale).
  Coverage alone rewards bands from zero to infinity; MSIS charges their width.
- scaled CRPS: 2 sum(mean pinball loss over the quantiles) / sum |y| over the group's cells
  (utilsforecast's `scaled_crps`), from the quantiles the intervals give: the point as the
  median and the 80%/95% bounds as the 2.5/10/90/97.5% quantiles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.schema import (
    CUTOFF_COL,
    DERIVED,
    ID_COL,
    LEVELS,
    REPORTED,
    SEASON_LENGTH,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
    hi_col,
    lo_col,
)

METRICS: tuple[str, ...] = ("mae", "rmse", "mase", "smape", "wape", "bias", "coverage_80",
                            "coverage_95", "msis_80", "msis_95", "scaled_crps")
# backtest.score_on: the cell statuses whose actuals are used as truth (scores, choice,
# calibration). Estimated cells are model guesses, never truth unless asked ("all").
SCORE_ON: dict[str, tuple[str, ...]] = {"reported": (REPORTED,),
                                        "reported_derived": (REPORTED, DERIVED),
                                        "all": STATUSES}


def in_scope(cells: pd.DataFrame, score_on: str) -> pd.DataFrame:
    """The rows of a backtest or cell frame whose status is in the `score_on` scope."""
    if score_on not in SCORE_ON:
        raise ValueError(f"score_on {score_on!r} not in {sorted(SCORE_ON)}")
    return cells.loc[cells[STATUS_COL].isin(SCORE_ON[score_on])]


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
    """One row per model and forecast cell: error, sMAPE, interval hits and scores, pinball."""
    base = backtest.merge(scale, on=[ID_COL, CUTOFF_COL], how="left")
    keep = [ID_COL, TIME_COL, CUTOFF_COL, "horizon", STATUS_COL, TARGET_COL, "scale"]
    frames = []
    for model in models:
        cells = base[keep].copy()
        cells["model"] = model
        y, yhat = base[TARGET_COL].to_numpy(), base[model].to_numpy()
        cells["forecast"] = yhat
        cells["error"] = yhat - y
        cells["smape"] = smape(y, yhat)
        pinball = np.zeros(len(base))
        for lv in levels:
            lo, hi = base[lo_col(model, lv)].to_numpy(), base[hi_col(model, lv)].to_numpy()
            cells[f"hit_{lv}"] = ((lo <= y) & (y <= hi)).astype(float)
            cells[f"is_{lv}"] = interval_score(y, lo, hi, lv)
            alpha = (100 - lv) / 200
            pinball += _pinball(y, lo, alpha) + _pinball(y, hi, 1 - alpha)
        cells["pinball"] = (pinball + _pinball(y, yhat, 0.5)) / (2 * len(levels) + 1)
        frames.append(cells.loc[~np.isnan(yhat)])
    return pd.concat(frames, ignore_index=True)


def smape(y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Per cell, the M3/M4 sMAPE 200 |y - f| / (|y| + |f|); 0 when y and f are both 0."""
    den = np.abs(y) + np.abs(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, 0.0, 200.0 * np.abs(y - f) / den)


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: int) -> np.ndarray:
    """Per cell, the interval (Winkler) score of [lo, hi] at `level` %: width plus misses x 2/a."""
    a = 1 - level / 100
    return (hi - lo) + 2 / a * (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0))


def _pinball(y: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """Pinball (quantile) loss of quantile forecast `q` at level `tau`."""
    diff = y - q
    return np.maximum(tau * diff, (tau - 1) * diff)


def summarise(cells: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Aggregate cell errors into the metric table, with the count of scored cells."""
    g = cells.assign(
        abs_err=cells["error"].abs(), sq_err=cells["error"] ** 2,
        scaled=cells["error"].abs() / cells["scale"], abs_y=cells[TARGET_COL].abs(),
        msis_80=cells["is_80"] / cells["scale"], msis_95=cells["is_95"] / cells["scale"],
    ).groupby(list(by), sort=True)
    out = pd.DataFrame({
        "mae": g["abs_err"].mean(),
        "rmse": np.sqrt(g["sq_err"].mean()),
        "mase": g["scaled"].mean(),
        "smape": g["smape"].mean(),
        "wape": g["abs_err"].sum() / g["abs_y"].sum(),
        "bias": g["error"].mean(),
        "coverage_80": g["hit_80"].mean(),
        "coverage_95": g["hit_95"].mean(),
        "msis_80": g["msis_80"].mean(),
        "msis_95": g["msis_95"].mean(),
        "scaled_crps": 2 * g["pinball"].sum() / (g["abs_y"].sum() + np.finfo(float).eps),
        "n_scored": g.size(),
    })
    return out.reset_index()


def score(cells: pd.DataFrame, *, score_on: str = "reported_derived") -> pd.DataFrame:
    """Long metric table per model and series: model, unique_id, metric, value, n_scored."""
    table = summarise(in_scope(cells, score_on), ["model", ID_COL])
    return table.melt(id_vars=["model", ID_COL, "n_scored"], var_name="metric",
                      value_name="value")[["model", ID_COL, "metric", "value", "n_scored"]]
