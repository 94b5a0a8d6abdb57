"""Champion and top-k ensemble per series, chosen only on backtest folds already complete.

Honesty rule: the model used for the fold at cutoff c is chosen on folds whose every target
was known at c (fold cutoff + h months <= c). A fold never helps choose its own model, nor do
folds still open at c. The final forecast (after the last data month) uses every fold.

Scoring. Models are ranked per series by MAE (or RMSE) over the pooled cells of the selected
folds, restricted to cells where y and every model's point forecast are present, so all models
are compared on the same cells. With `only_reported`, cells whose status is "estimated" are left
out, and a series with no reported cell in those folds gets no choice (its estimated "actuals"
may lean on figures published after the cutoff; the job falls back to the baseline). Models
with exactly the same score as a better-ranked one count once. Within one series, ranking by pooled
MAE equals ranking by MASE computed with a single scale per series; per-fold MASE averages
weight folds by 1/scale at their cutoff and can order models slightly differently. Ties go to
the model listed first in `models` (list the naive baseline first to prefer it on ties).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from forecasting.models.base import clip_forecasts
from forecasting.models.routing import model_columns, take_model_columns
from forecasting.schema import (
    CUTOFF_COL,
    ID_COL,
    LEVELS,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
)

CHOICE_COLUMNS: tuple[str, ...] = (CUTOFF_COL, ID_COL, "champion", "ranked", "n_cells")
_CELLS = "__cells__"

_ArrayFn = Callable[[np.ndarray], np.ndarray]
_METRICS: dict[str, tuple[_ArrayFn, _ArrayFn]] = {
    "mae": (np.abs, lambda mean_loss: mean_loss),
    "rmse": (np.square, np.sqrt),
}


def _check(backtest: pd.DataFrame, models: Sequence[str], top_k: int, metric: str) -> None:
    """Fail early on an unknown metric, a bad top_k or model columns absent from the frame."""
    if metric not in _METRICS:
        raise ValueError(f"metric {metric!r} not in {sorted(_METRICS)}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    missing = [c for c in [ID_COL, CUTOFF_COL, TARGET_COL, STATUS_COL, *models]
               if c not in backtest.columns]
    if missing:
        raise ValueError(f"backtest frame lacks column(s) {missing}")


def _fold_losses(backtest: pd.DataFrame, models: Sequence[str], metric: str) -> pd.DataFrame:
    """Per (series, fold cutoff): summed cell losses per model and cell counts, all and reported."""
    cells = backtest.dropna(subset=[TARGET_COL, *models])
    cell_loss, _ = _METRICS[metric]
    loss = pd.DataFrame(cell_loss(cells[list(models)].to_numpy(float)
                                  - cells[[TARGET_COL]].to_numpy(float)),
                        columns=list(models), index=cells.index)
    reported = (cells[STATUS_COL] == REPORTED).to_numpy()
    loss[_CELLS] = 1.0
    keys = [cells[ID_COL], cells[CUTOFF_COL]]
    return pd.concat({"all": loss.groupby(keys).sum(),
                      "reported": loss.mul(reported, axis=0).groupby(keys).sum()}, axis=1)


def _rank(sums: pd.DataFrame, models: Sequence[str], *, top_k: int, metric: str,
          only_reported: bool) -> pd.DataFrame:
    """Champion, top-k aliases and cell count per series from its summed fold losses.

    Models whose score ties a better-ranked one exactly (the same forecasts: Routed and the
    model it routed to, or Croston/ADIDA/IMAPA on a series without zeros) count once.
    """
    scope = (sums["reported"] if only_reported else sums["all"]).to_numpy()
    n_cells = scope[:, -1]
    keep = n_cells > 0
    _, finish = _METRICS[metric]
    score = finish(scope[keep, :-1] / n_cells[keep, None])
    ranked = [_distinct_top(row, models, top_k) for row in score]
    return pd.DataFrame({ID_COL: sums.index[keep], "champion": [r[0] for r in ranked],
                         "ranked": pd.Series(ranked, dtype=object),
                         "n_cells": n_cells[keep].astype(int)})


def _distinct_top(score: np.ndarray, models: Sequence[str], top_k: int) -> tuple[str, ...]:
    """The top_k models by score, skipping exact ties with an already chosen model."""
    chosen: list[int] = []
    for i in np.argsort(score, kind="stable"):
        if all(not np.isclose(score[i], score[j], rtol=1e-12, atol=0.0) for j in chosen):
            chosen.append(int(i))
        if len(chosen) == top_k:
            break
    return tuple(models[i] for i in chosen)


def prior_folds_choice(backtest: pd.DataFrame, *, models: Sequence[str], h: int, top_k: int = 3,
                       metric: str = "mae", only_reported: bool = True) -> pd.DataFrame:
    """Per evaluation cutoff and series: champion and top-k ranked on folds complete by that cutoff.

    A fold at cutoff_j counts for cutoff c only if cutoff_j + h months <= c. Cutoffs (and
    series) with no such fold, or no usable cell in them, get no row.
    Returns cutoff, unique_id, champion, ranked (tuple of top_k aliases, best first), n_cells.
    """
    _check(backtest, models, top_k, metric)
    models = list(models)
    folds = _fold_losses(backtest, models, metric)
    fold_cutoff = folds.index.get_level_values(CUTOFF_COL)
    frames = []
    for c in np.sort(pd.to_datetime(backtest[CUTOFF_COL].unique())):
        complete = (fold_cutoff + pd.DateOffset(months=h)) <= c
        if complete.any():
            sums = folds.loc[complete].groupby(level=ID_COL).sum()
            frames.append(_rank(sums, models, top_k=top_k, metric=metric,
                                only_reported=only_reported).assign(**{CUTOFF_COL: c}))
    if not frames:
        return pd.DataFrame(columns=list(CHOICE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(CHOICE_COLUMNS)]


def final_choice(backtest: pd.DataFrame, *, models: Sequence[str], top_k: int = 3,
                 metric: str = "mae", only_reported: bool = True) -> pd.DataFrame:
    """Per series: champion and top-k ranked on every fold (for the forecast after the last month).

    Returns unique_id, champion, ranked, n_cells (no cutoff column).
    """
    _check(backtest, models, top_k, metric)
    models = list(models)
    sums = _fold_losses(backtest, models, metric).groupby(level=ID_COL).sum()
    return _rank(sums, models, top_k=top_k, metric=metric, only_reported=only_reported)


def _ensemble(frame: pd.DataFrame, ranked: pd.Series, models: Sequence[str], *, alias: str,
              levels: Sequence[int]) -> pd.DataFrame:
    """Add `alias`: median of the ranked models' points and bounds, then put them in order."""
    members = np.array([[m in r for m in models] if isinstance(r, tuple) else [False] * len(models)
                        for r in ranked], dtype=bool).reshape(len(frame), len(models))
    has = members.any(axis=1)
    out = frame.copy()
    columns = [model_columns(m, levels) for m in models]
    for j, name in enumerate(model_columns(alias, levels)):
        values = np.where(members, frame[[cols[j] for cols in columns]].to_numpy(float), np.nan)
        median = np.full(len(frame), np.nan)
        with warnings.catch_warnings():  # a row whose members all lack a forecast stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            median[has] = np.nanmedian(values[has], axis=1)
        out[name] = median
    return clip_forecasts(out, [alias], levels)


def apply_choice(frame: pd.DataFrame, choice: pd.DataFrame, *, models: Sequence[str],
                 champion_alias: str = "Champion", ensemble_alias: str = "Ensemble",
                 levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add Champion and Ensemble columns to `frame` from `choice` (per series, or per cutoff too).

    With a `cutoff` column in `choice` rows match on (cutoff, unique_id), otherwise on
    unique_id. Rows without a choice get NaN in both pseudo-models: in a backtest they are the
    folds with no complete prior fold and are left out of the pseudo-models' scores.
    """
    keys = [CUTOFF_COL, ID_COL] if CUTOFF_COL in choice.columns else [ID_COL]
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks key column(s) {missing} of the choice")
    unknown = {m for r in choice["ranked"] for m in r} - set(models)
    if unknown:
        raise ValueError(f"choice names model(s) {sorted(unknown)} not in models")
    absent = [c for m in models for c in model_columns(m, levels) if c not in frame.columns]
    if absent:
        raise ValueError(f"frame lacks column(s) {absent}")
    rows = frame[keys].merge(choice[[*keys, "champion", "ranked"]], on=keys, how="left",
                             validate="many_to_one")
    rows.index = frame.index
    out = take_model_columns(frame, rows["champion"], alias=champion_alias, levels=levels)
    return _ensemble(out, rows["ranked"], list(models), alias=ensemble_alias, levels=levels)


def add_champion_and_ensemble(backtest: pd.DataFrame, choice: pd.DataFrame, *,
                              models: Sequence[str], champion_alias: str = "Champion",
                              ensemble_alias: str = "Ensemble",
                              levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add Champion and Ensemble to a backtest frame from a per-cutoff `prior_folds_choice`.

    Refuses a choice without a cutoff column: a per-series choice made on all folds would
    score folds with a model picked on their own errors.
    """
    if CUTOFF_COL not in choice.columns:
        raise ValueError("choice has no 'cutoff' column: use prior_folds_choice for backtests")
    return apply_choice(backtest, choice, models=models, champion_alias=champion_alias,
                        ensemble_alias=ensemble_alias, levels=levels)
