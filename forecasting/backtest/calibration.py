"""Conformal calibration of interval widths from earlier backtest folds.

Model intervals assume the future looks like the fitted past; a licensing shock breaks that,
and on the bundled data raw 80% intervals cover well under 80% of reported months. For each
model and level we find the factor by which the half-widths must be stretched (or shrunk) so
that the nominal share of earlier reported actuals falls inside: the empirical `level`
quantile of each cell's required factor |y - point| / half-width on the side of y
(split-conformal scaling of the model's own interval). Backtest folds are calibrated only on
folds complete before their cutoff; the final forecast on all folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasting.schema import CUTOFF_COL, LEVELS, REPORTED, STATUS_COL, TARGET_COL, hi_col, lo_col

MIN_CELLS = 8


def required_factor(y: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    ) -> np.ndarray:
    """Per cell, the smallest stretch of the half-width on y's side that covers y."""
    above = y >= point
    gap = np.where(above, y - point, point - y)
    half = np.where(above, hi - point, point - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap <= 0, 0.0, np.where(half > 0, gap / half, np.inf))


def factors(cells: pd.DataFrame, *, models: Sequence[str], levels: Sequence[int] = LEVELS,
            only_reported: bool = True) -> dict[tuple[str, int], float]:
    """(model, level) -> width factor from the cells of `cells` (a backtest frame)."""
    if only_reported:
        cells = cells.loc[cells[STATUS_COL] == REPORTED]
    out = {}
    for model in models:
        ok = cells[model].notna() & cells[TARGET_COL].notna()
        if ok.sum() < MIN_CELLS:
            continue
        part = cells.loc[ok]
        for lv in levels:
            need = required_factor(part[TARGET_COL].to_numpy(), part[model].to_numpy(),
                                   part[lo_col(model, lv)].to_numpy(),
                                   part[hi_col(model, lv)].to_numpy())
            out[(model, lv)] = float(np.quantile(need, lv / 100, method="higher"))
    return out


def stretch(frame: pd.DataFrame, fac: dict[tuple[str, int], float], *,
            rows: pd.Series | slice = slice(None)) -> pd.DataFrame:
    """Apply width factors to the interval columns of `frame` (on `rows`), lo clipped at 0."""
    out = frame.copy()
    for (model, lv), k in fac.items():
        if not np.isfinite(k):
            continue
        point = out.loc[rows, model]
        lo, hi = lo_col(model, lv), hi_col(model, lv)
        out.loc[rows, lo] = (point - k * (point - out.loc[rows, lo])).clip(lower=0.0)
        out.loc[rows, hi] = point + k * (out.loc[rows, hi] - point)
    return out


def calibrate_backtest(backtest: pd.DataFrame, *, models: Sequence[str], h: int,
                       levels: Sequence[int] = LEVELS, only_reported: bool = True,
                       ) -> pd.DataFrame:
    """Stretch each fold's intervals by factors learnt on folds complete by its cutoff.

    Folds with fewer than MIN_CELLS earlier scored cells keep the model's own intervals.
    """
    out = backtest
    for cutoff in sorted(backtest[CUTOFF_COL].unique()):
        done = backtest[CUTOFF_COL] + pd.DateOffset(months=h) <= cutoff
        fac = factors(backtest.loc[done], models=models, levels=levels,
                      only_reported=only_reported)
        out = stretch(out, fac, rows=out[CUTOFF_COL] == cutoff)
    return out
