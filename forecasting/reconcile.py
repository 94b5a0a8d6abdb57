"""Coherent forecasts: destinations (and OTHER) add up to WORLD, via hierarchicalforecast.

The hierarchy has two levels: the total (WORLD) and the bottom series (every other
unique_id: the destinations and OTHER). Point forecasts are reconciled with
hierarchicalforecast; intervals are moved along with their point (see `reconcile`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from hierarchicalforecast.core import HierarchicalReconciliation
from hierarchicalforecast.methods import BottomUp, HReconciler, MinTrace

from forecasting.data.products import by_product, keyed
from forecasting.models.base import clip_forecasts
from forecasting.schema import ID_COL, LEVELS, TARGET_COL, TIME_COL, WORLD, hi_col, lo_col

FORECAST_COL = "forecast"

METHODS: dict[str, Callable[[], HReconciler]] = {
    "bottom_up": BottomUp,
    "mint_ols": lambda: MinTrace(method="ols"),
    "mint_wls_struct": lambda: MinTrace(method="wls_struct"),
    "mint_shrink": lambda: MinTrace(method="mint_shrink"),
}
INSAMPLE_METHODS: frozenset[str] = frozenset({"mint_shrink"})


def interval_columns(model: str = FORECAST_COL) -> list[str]:
    """Interval columns of `model` from outermost lower to outermost upper (lo-95 ... hi-95)."""
    levels = sorted(LEVELS, reverse=True)
    return [lo_col(model, lv) for lv in levels] + [hi_col(model, lv) for lv in reversed(levels)]


def hierarchy(ids: pd.Series | list[str], *, total_id: str = WORLD,
              id_col: str = ID_COL) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Summing matrix S_df (id_col + one column per bottom series, total first) and tags."""
    bottom = sorted(set(ids) - {total_id})
    if total_id not in set(ids) or not bottom:
        raise ValueError(f"forecasts need the total '{total_id}' and at least one other series")
    s = np.vstack([np.ones(len(bottom)), np.eye(len(bottom))])
    s_df = pd.DataFrame(s, columns=bottom)
    s_df.insert(0, id_col, [total_id, *bottom])
    tags = {"total": np.array([total_id]), "bottom": np.array(bottom)}
    return s_df, tags


def _check_frame(forecasts: pd.DataFrame, *, total_id: str) -> None:
    """Raise ValueError if the forecast frame cannot be reconciled."""
    needed = [ID_COL, TIME_COL, FORECAST_COL, *interval_columns()]
    missing = [c for c in needed if c not in forecasts.columns]
    if missing:
        raise ValueError(f"forecast frame lacks column(s) {missing}")
    if forecasts[needed].isna().any().any():
        bad = forecasts[needed].isna().any()
        raise ValueError(f"forecast frame has NaN in column(s) {list(bad[bad].index)}")
    if forecasts.duplicated([ID_COL, TIME_COL]).any():
        raise ValueError("forecast frame has duplicate (unique_id, ds) rows")
    months = forecasts.groupby(ID_COL)[TIME_COL].apply(frozenset)
    if months.nunique() != 1:
        raise ValueError("every series must cover the same forecast months "
                         f"(including '{total_id}')")


def reconcile(forecasts: pd.DataFrame, *, method: str = "bottom_up",
              insample: pd.DataFrame | None = None, total_id: str = WORLD,
              several: bool = False) -> pd.DataFrame:
    """Return `forecasts` with coherent points (bottom series sum to `total_id`), moved intervals.

    `several`: ids keyed `<product>/<id>` (forecasting.data.products); each product is
    reconciled on its own, see `reconcile_products`.

    `method` is one of bottom_up, mint_ols, mint_wls_struct, mint_shrink (hierarchicalforecast
    BottomUp / MinTrace ols, wls_struct, mint_shrink). mint_shrink needs `insample`: a frame
    unique_id, ds, y, forecast (fitted values) for every series, total included.

    Zero guard: MinTrace spreads the total's disagreement over every series, which can push a
    small or intermittent series below zero. Reconciled bottom series are therefore clipped at 0
    and the total is re-aggregated as the sum of the clipped bottom series, so the result is
    coherent and non-negative (for MinTrace, no longer the exact MinTrace solution).

    Intervals are not reconciled probabilistically: each series' interval is shifted by that
    series' point adjustment (reconciled - base), widths kept. With bottom_up the total thus
    keeps its own model's interval widths, centred on the reconciled point. Then the lower
    bounds are clipped at 0 and nesting is enforced: lo-95 <= lo-80 <= point <= hi-80 <= hi-95.
    Interval bounds are not coherent across the hierarchy (a sum of quantiles is no quantile).
    All other columns (model, ...) and the row order are kept.
    """
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}; choose from {list(METHODS)}")
    if several:
        return reconcile_products(forecasts, method=method, insample=insample,
                                  total_id=total_id)
    if method in INSAMPLE_METHODS and insample is None:
        raise ValueError(f"method {method!r} needs `insample` (unique_id, ds, y, forecast fitted)")
    _check_frame(forecasts, total_id=total_id)
    s_df, tags = hierarchy(forecasts[ID_COL], total_id=total_id)
    y_df = None
    if method in INSAMPLE_METHODS:
        y_df = insample[[ID_COL, TIME_COL, TARGET_COL, FORECAST_COL]]
    y_hat = forecasts[[ID_COL, TIME_COL, FORECAST_COL]].reset_index(drop=True)
    rec = HierarchicalReconciliation([METHODS[method]()]).reconcile(
        Y_hat_df=y_hat, S_df=s_df, tags=tags, Y_df=y_df)
    (rec_col,) = [c for c in rec.columns if c.startswith(f"{FORECAST_COL}/")]
    rec = rec[[ID_COL, TIME_COL, rec_col]].rename(columns={rec_col: "reconciled"})
    is_total = rec[ID_COL] == total_id
    rec["reconciled"] = rec["reconciled"].clip(lower=0.0)
    bottom_sum = rec.loc[~is_total].groupby(TIME_COL)["reconciled"].sum()
    rec.loc[is_total, "reconciled"] = rec.loc[is_total, TIME_COL].map(bottom_sum).to_numpy()

    out = forecasts.copy()
    point = out[[ID_COL, TIME_COL]].merge(rec, on=[ID_COL, TIME_COL], how="left")["reconciled"]
    shift = point.to_numpy() - out[FORECAST_COL].to_numpy()
    out[FORECAST_COL] = point.to_numpy()
    for col in interval_columns():
        out[col] = out[col].to_numpy() + shift
    return clip_forecasts(out, [FORECAST_COL], LEVELS)


def reconcile_products(forecasts: pd.DataFrame, *, method: str = "bottom_up",
                       insample: pd.DataFrame | None = None,
                       total_id: str = WORLD) -> pd.DataFrame:
    """`reconcile` on each product of a frame keyed `<product>/<id>`: the summing matrix of
    the whole is block-diagonal, one block per product whose partners add up to that
    product's own `total_id`; there is no cross-product total, and no product's forecasts
    (nor, for mint_shrink, its residuals) reach another's. A product with its total only
    (a WORLD-only line) is already coherent and kept as forecast. Row order is kept."""
    parts = []
    for product, rows in by_product(forecasts.reset_index(drop=True)):
        if set(rows[ID_COL]) != {total_id}:
            own = None if insample is None else next(
                (r for p, r in by_product(insample) if p == product), None)
            rows = reconcile(rows, method=method, insample=own, total_id=total_id)
        parts.append(keyed(rows, product))
    return pd.concat(parts).sort_index().set_axis(forecasts.index)
