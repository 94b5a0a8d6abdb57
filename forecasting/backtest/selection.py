"""Champion and top-k ensemble, chosen for each fold on the cells already realised at its cutoff.

Honesty rule: the choice used for the fold at cutoff c rests only on backtest cells whose target
month is at or before c (ds <= c), from any earlier fold, complete or not: the fold at c - 1
month contributes its 1-step cell, the fold at c - 2 its 1- and 2-step cells, and so on. A
fold's own cells (ds > c) and every later-realised cell of earlier folds are never used, so
nothing is chosen on the cells it is scored on, and Champion and Ensemble exist for every fold
after the first. The final forecast (after the last data month) uses every backtest cell.

Cells. Only cells whose status is in the `score_on` scope (metrics.SCORE_ON) and where y and
every model's point forecast are present count, so all models are compared on the same cells.
Errors are MASE-scaled (divided by the series' seasonal-naive scale at the fold's cutoff, 1
where it is undefined or no scale is given) so pooling series of different size does not let
the big ones decide. `metric` mae ranks by mean |scaled error|, rmse by its root mean square.

Scope. Per series the score of model m is its mean cell loss S. The pool P is the mean of S
over the series of the same `scope`: the series itself (`series`), its group, e.g. its
intermittency class (`group`), or every series (`all`); every series counts once. The choice
ranks (1 - shrink) S + shrink P: shrink 1 chooses on the pool alone, 0 per series (scope
`series` ignores shrink); a series with no realised cell of its own takes the pool's ranking
(under scope `series` it gets no choice and the job falls back to the baseline).

Ensemble: the top_k distinct models (a model whose score ties a better one exactly, e.g. Routed
and the model it routed to, counts once; ties go to the model listed first in `models`), with
`equal` weights (their median, robust to one wild member) or `inverse_error` weights (the mean
weighted by 1 / score). Point and interval bounds are combined alike, then put back in order.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.backtest.metrics import SCORE_ON, in_scope
from forecasting.models.base import clip_forecasts
from forecasting.models.routing import model_columns, take_model_columns
from forecasting.schema import CUTOFF_COL, ID_COL, LEVELS, STATUS_COL, TARGET_COL, TIME_COL

CHOICE_COLUMNS: tuple[str, ...] = (CUTOFF_COL, ID_COL, "champion", "ranked", "weights",
                                   "n_cells")
GROUP_COL = "group"
SCOPES: tuple[str, ...] = ("series", "group", "all")
WEIGHTS: tuple[str, ...] = ("equal", "inverse_error")

_ArrayFn = Callable[[np.ndarray], np.ndarray]
_METRICS: dict[str, tuple[_ArrayFn, _ArrayFn]] = {
    "mae": (np.abs, lambda mean_loss: mean_loss),
    "rmse": (np.square, np.sqrt),
}


@dataclass(frozen=True)
class SelectionRule:
    """How Champion and Ensemble are chosen (see the module docstring)."""

    top_k: int = 3
    metric: str = "mae"
    scope: str = "series"
    shrink: float = 1.0
    weights: str = "equal"
    score_on: str = "reported_derived"

    def __post_init__(self) -> None:
        """Fail early on a setting outside its allowed values."""
        allowed = {"metric": tuple(_METRICS), "scope": SCOPES, "weights": WEIGHTS,
                   "score_on": tuple(SCORE_ON)}
        for name, values in allowed.items():
            if getattr(self, name) not in values:
                raise ValueError(f"{name} {getattr(self, name)!r} not in {list(values)}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if not 0.0 <= self.shrink <= 1.0:
            raise ValueError(f"shrink must be in [0, 1], got {self.shrink}")


def _cell_losses(backtest: pd.DataFrame, models: Sequence[str], scale: pd.DataFrame | None,
                 rule: SelectionRule) -> pd.DataFrame:
    """Per usable cell: unique_id, ds and the scaled loss of every model."""
    missing = [c for c in [ID_COL, TIME_COL, CUTOFF_COL, TARGET_COL, STATUS_COL, *models]
               if c not in backtest.columns]
    if missing:
        raise ValueError(f"backtest frame lacks column(s) {missing}")
    cells = in_scope(backtest, rule.score_on).dropna(subset=[TARGET_COL, *models])
    s = np.ones(len(cells))
    if scale is not None:
        s = cells[[ID_COL, CUTOFF_COL]].merge(scale, on=[ID_COL, CUTOFF_COL], how="left")[
            "scale"].fillna(1.0).to_numpy(float)
    cell_loss, _ = _METRICS[rule.metric]
    err = (cells[list(models)].to_numpy(float) - cells[[TARGET_COL]].to_numpy(float)) / s[:, None]
    out = pd.DataFrame(cell_loss(err), columns=list(models))
    out.insert(0, ID_COL, cells[ID_COL].to_numpy())
    out.insert(1, TIME_COL, cells[TIME_COL].to_numpy())
    return out


def _rank(losses: pd.DataFrame, models: Sequence[str], ids: np.ndarray,
          groups: pd.Series | None, rule: SelectionRule) -> pd.DataFrame:
    """Champion, top-k, weights and cell count per series of `ids` from its cells' losses."""
    own = losses.groupby(ID_COL)[list(models)].mean().reindex(ids)
    n_own = losses.groupby(ID_COL).size().reindex(ids, fill_value=0)
    if rule.scope == "series":
        mean_loss, n_cells = own, n_own
    else:
        if rule.scope == "all":
            pool = pd.Series("all", index=ids)
        else:
            if groups is None:
                raise ValueError("scope 'group' needs the series' groups")
            pool = groups.reindex(ids).fillna("(no group)")
        pooled = own.groupby(pool).transform("mean")
        n_cells = n_own.groupby(pool).transform("sum")
        mean_loss = ((1 - rule.shrink) * own + rule.shrink * pooled).fillna(pooled)
    keep = mean_loss.notna().all(axis=1).to_numpy() & (n_cells.to_numpy() > 0)
    _, finish = _METRICS[rule.metric]
    score = finish(mean_loss.to_numpy(float)[keep])
    ranked = [_distinct_top(row, models, rule.top_k) for row in score]
    weights = [_weights(row, models, r, rule.weights) for row, r in zip(score, ranked,
                                                                          strict=True)]
    return pd.DataFrame({ID_COL: ids[keep], "champion": [r[0] for r in ranked],
                         "ranked": pd.Series(ranked, dtype=object),
                         "weights": pd.Series(weights, dtype=object),
                         "n_cells": n_cells.to_numpy()[keep].astype(int)})


def _distinct_top(score: np.ndarray, models: Sequence[str], top_k: int) -> tuple[str, ...]:
    """The top_k models by score, skipping exact ties with an already chosen model."""
    chosen: list[int] = []
    for i in np.argsort(score, kind="stable"):
        if all(not np.isclose(score[i], score[j], rtol=1e-12, atol=0.0) for j in chosen):
            chosen.append(int(i))
        if len(chosen) == top_k:
            break
    return tuple(models[i] for i in chosen)


def _weights(score: np.ndarray, models: Sequence[str], ranked: tuple[str, ...],
             how: str) -> tuple[float, ...]:
    """Ensemble weights of the ranked members: equal, or proportional to 1 / score."""
    if how == "equal":
        return tuple(1.0 / len(ranked) for _ in ranked)
    inv = np.array([1.0 / max(score[list(models).index(m)], 1e-12) for m in ranked])
    return tuple(float(w) for w in inv / inv.sum())


def _groups_at(groups: pd.DataFrame | None, cutoff: pd.Timestamp | None) -> pd.Series | None:
    """Group per series (as known at `cutoff` when `groups` has a cutoff column)."""
    if groups is None:
        return None
    if CUTOFF_COL in groups.columns and cutoff is not None:
        groups = groups.loc[groups[CUTOFF_COL] == cutoff]
    return groups.set_index(ID_COL)[GROUP_COL]


def choice_at_cutoffs(backtest: pd.DataFrame, *, models: Sequence[str],
                      scale: pd.DataFrame | None = None, groups: pd.DataFrame | None = None,
                      rule: SelectionRule = SelectionRule()) -> pd.DataFrame:
    """Per fold cutoff and series: the choice made on the cells realised by that cutoff.

    A cell counts for cutoff c when its target month ds <= c (see the module docstring).
    `scale`: unique_id, cutoff, scale (metrics.seasonal_scale); `groups`: unique_id, group and
    optionally cutoff (the group as known at each cutoff). Cutoffs with no realised cell (the
    first) and series without a choice get no row. Returns cutoff, unique_id, champion,
    ranked (top_k aliases, best first), weights (aligned with ranked), n_cells.
    """
    models = list(models)
    losses = _cell_losses(backtest, models, scale, rule)
    ids = np.sort(backtest[ID_COL].unique())
    frames = []
    for c in np.sort(pd.to_datetime(backtest[CUTOFF_COL].unique())):
        realised = losses.loc[losses[TIME_COL] <= c]
        if len(realised):
            frames.append(_rank(realised, models, ids, _groups_at(groups, c), rule)
                          .assign(**{CUTOFF_COL: c}))
    if not frames:
        return pd.DataFrame(columns=list(CHOICE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(CHOICE_COLUMNS)]


def final_choice(backtest: pd.DataFrame, *, models: Sequence[str],
                 scale: pd.DataFrame | None = None, groups: pd.DataFrame | None = None,
                 rule: SelectionRule = SelectionRule()) -> pd.DataFrame:
    """Per series: the choice made on every backtest cell (for the forecast after the last month).

    `groups` gives each series' group as known at the last month (no cutoff column).
    Returns unique_id, champion, ranked, weights, n_cells (no cutoff column).
    """
    models = list(models)
    losses = _cell_losses(backtest, models, scale, rule)
    ids = np.sort(backtest[ID_COL].unique())
    return _rank(losses, models, ids, _groups_at(groups, None), rule)


def _ensemble(frame: pd.DataFrame, ranked: pd.Series, weights: pd.Series,
              models: Sequence[str], *, alias: str, levels: Sequence[int]) -> pd.DataFrame:
    """Add `alias`: per row the median (equal weights) or weighted mean of the ranked members."""
    w = np.zeros((len(frame), len(models)))
    for i, (r, wr) in enumerate(zip(ranked, weights, strict=True)):
        if isinstance(r, tuple):
            w[i, [list(models).index(m) for m in r]] = wr
    members = w > 0
    has = members.any(axis=1)
    equal = np.array([np.ptp(row[row > 0]) < 1e-12 if row.any() else True for row in w])
    out = frame.copy()
    columns = [model_columns(m, levels) for m in models]
    for j, name in enumerate(model_columns(alias, levels)):
        values = np.where(members, frame[[cols[j] for cols in columns]].to_numpy(float), np.nan)
        combined = np.full(len(frame), np.nan)
        with warnings.catch_warnings():  # a row whose members all lack a forecast stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(values[has], axis=1)
            present = np.where(np.isnan(values[has]), 0.0, w[has])
            mean = np.nansum(values[has] * present, axis=1) / present.sum(axis=1)
        combined[has] = np.where(equal[has], median, mean)
        out[name] = combined
    return clip_forecasts(out, [alias], levels)


def apply_choice(frame: pd.DataFrame, choice: pd.DataFrame, *, models: Sequence[str],
                 champion_alias: str = "Champion", ensemble_alias: str = "Ensemble",
                 levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add Champion and Ensemble columns to `frame` from `choice` (per series, or per cutoff too).

    With a `cutoff` column in `choice` rows match on (cutoff, unique_id), otherwise on
    unique_id. Rows without a choice get NaN in both pseudo-models: in a backtest they are the
    first fold (nothing realised before it) and are left out of the pseudo-models' scores.
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
    rows = frame[keys].merge(choice[[*keys, "champion", "ranked", "weights"]], on=keys,
                             how="left", validate="many_to_one")
    rows.index = frame.index
    out = take_model_columns(frame, rows["champion"], alias=champion_alias, levels=levels)
    return _ensemble(out, rows["ranked"], rows["weights"], list(models), alias=ensemble_alias,
                     levels=levels)


def add_champion_and_ensemble(backtest: pd.DataFrame, choice: pd.DataFrame, *,
                              models: Sequence[str], champion_alias: str = "Champion",
                              ensemble_alias: str = "Ensemble",
                              levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add Champion and Ensemble to a backtest frame from a per-cutoff `choice_at_cutoffs`.

    Refuses a choice without a cutoff column: a per-series choice made on all folds would
    score folds with a model picked on their own errors.
    """
    if CUTOFF_COL not in choice.columns:
        raise ValueError("choice has no 'cutoff' column: use choice_at_cutoffs for backtests")
    return apply_choice(backtest, choice, models=models, champion_alias=champion_alias,
                        ensemble_alias=ensemble_alias, levels=levels)
