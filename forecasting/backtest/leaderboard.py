"""Rank models by mean MASE over series, with skill against the baseline on the same cells."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.backtest.metrics import summarise
from forecasting.schema import CUTOFF_COL, ID_COL, REPORTED, STATUS_COL, TIME_COL

CELL_KEY = [ID_COL, TIME_COL, CUTOFF_COL]


def leaderboard(cells: pd.DataFrame, *, baseline: str, only_reported: bool = True,
                ) -> pd.DataFrame:
    """One row per model: mean MASE over series, WAPE, coverage, skill, cells scored.

    Every model is scored on the same cells: those where all models have a forecast (the
    champion and ensemble exist only on folds with earlier complete folds to choose from, and
    ranking models scored on different cells would compare different tests). Skill =
    1 - MASE(model) / MASE(baseline). Each model's scores on all its own cells are in
    `metrics.csv`.
    """
    if only_reported:
        cells = cells.loc[cells[STATUS_COL] == REPORTED]
    n_models = cells["model"].nunique()
    cells = cells.loc[cells.groupby(CELL_KEY)["model"].transform("nunique") == n_models]
    per_series = summarise(cells, ["model", ID_COL])
    board = per_series.groupby("model").agg(
        mase=("mase", "mean"), n_series=(ID_COL, "nunique"), n_scored=("n_scored", "sum"))
    pooled = summarise(cells, ["model"]).set_index("model")
    board = board.join(pooled[["mae", "wape", "bias", "coverage_80", "coverage_95",
                               "scaled_pinball"]])
    base = cells.loc[cells["model"] == baseline].set_index(CELL_KEY)
    skills = {}
    for model, part in cells.groupby("model"):
        same = part.set_index(CELL_KEY).join(base[["error", "scale"]], rsuffix="_base",
                                             how="inner")
        model_mase = (same["error"].abs() / same["scale"]).groupby(level=ID_COL).mean()
        base_mase = (same["error_base"].abs() / same["scale"]).groupby(level=ID_COL).mean()
        skills[model] = 1.0 - model_mase.mean() / base_mase.mean() if len(same) else np.nan
    board["skill"] = pd.Series(skills)
    board = board.sort_values(["mase", "wape"]).reset_index()
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board[["rank", "model", "mase", "skill", "mae", "wape", "bias", "coverage_80",
                  "coverage_95", "scaled_pinball", "n_series", "n_scored"]]


def champions(cells: pd.DataFrame, *, only_reported: bool = True,
              candidates: list[str] | None = None) -> pd.DataFrame:
    """Best model per series by MASE on the scored cells (for display; not used to select)."""
    if only_reported:
        cells = cells.loc[cells[STATUS_COL] == REPORTED]
    if candidates is not None:
        cells = cells.loc[cells["model"].isin(candidates)]
    per_series = summarise(cells, ["model", ID_COL])
    best = per_series.loc[per_series.groupby(ID_COL)["mase"].idxmin()]
    return best[[ID_COL, "model", "mase", "n_scored"]].reset_index(drop=True)
