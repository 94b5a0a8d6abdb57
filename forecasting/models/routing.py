"""SBC demand classes and routing each series to a smooth or intermittent model.

Classification follows Syntetos, Boylan & Croston (2005), "On the categorization of demand
patterns", JORS 56(5):495-503: ADI (average inter-demand interval) cut-off 1.32 and CV² (squared
coefficient of variation of the non-zero demand sizes) cut-off 0.49. Kostenko & Hyndman (2006,
JORS 57:1256-1257) show these are approximations of the exact SBA-vs-Croston boundary; they stay
the usual defaults and are parameters here. A value exactly at a cut-off goes to the
intermittent / erratic side (smooth needs ADI < 1.32 and CV² < 0.49).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from forecasting.schema import CUTOFF_COL, ID_COL, LEVELS, TARGET_COL, TIME_COL, hi_col, lo_col

CLASS_COL = "demand_class"
DEMAND_CLASSES: tuple[str, ...] = ("smooth", "erratic", "intermittent", "lumpy")
SMOOTH_SIDE: frozenset[str] = frozenset({"smooth", "erratic"})


def _adi_cv2(y: np.ndarray) -> tuple[float, float]:
    """ADI and CV² of one series' observed values (statsforecast's interval convention)."""
    nonzero = np.flatnonzero(y != 0)
    if nonzero.size == 0:
        return np.inf, np.nan
    intervals = np.diff(nonzero + 1, prepend=0)
    sizes = y[nonzero]
    return float(intervals.mean()), float((sizes.std() / sizes.mean()) ** 2)


def classify_series(panel: pd.DataFrame, *, as_of: pd.Timestamp | None = None,
                    adi_threshold: float = 1.32, cv2_threshold: float = 0.49,
                    id_col: str = ID_COL, time_col: str = TIME_COL,
                    target_col: str = TARGET_COL) -> pd.DataFrame:
    """Syntetos-Boylan demand class of every series from its history up to `as_of`.

    ADI is the mean of the intervals between non-zero months, the first counted from the start
    of the history (as statsforecast's Croston/ADIDA/IMAPA do): 1.0 when every month is
    non-zero. CV² uses the population standard deviation of the non-zero sizes (0.0 for a
    single non-zero month). Not-reported months (NaN) are dropped, not read as zeros: missing
    is not "no exports". A series with no non-zero month up to `as_of` (all zeros, all NaN,
    or no history yet) gets adi = inf, cv2 = NaN and class "intermittent", so it is routed to
    the intermittent model. Returns unique_id, adi, cv2, demand_class, one row per series.
    """
    history = panel
    if as_of is not None:
        history = panel.loc[panel[time_col] <= pd.Timestamp(as_of)]
    history = history.dropna(subset=[target_col]).sort_values([id_col, time_col])
    by_id = {uid: g[target_col].to_numpy(float) for uid, g in history.groupby(id_col)}
    ids = np.sort(panel[id_col].unique())
    stats = np.array([_adi_cv2(by_id.get(uid, np.empty(0))) for uid in ids]).reshape(-1, 2)
    adi, cv2 = stats[:, 0], stats[:, 1]
    frequent = adi < adi_threshold
    steady = np.nan_to_num(cv2, nan=0.0) < cv2_threshold
    demand_class = np.select([frequent & steady, frequent, steady],
                             ["smooth", "erratic", "intermittent"], default="lumpy")
    return pd.DataFrame({id_col: ids, "adi": adi, "cv2": cv2, CLASS_COL: demand_class})


def classify_at_cutoffs(panel: pd.DataFrame, cutoffs: Iterable[pd.Timestamp],
                        **kwargs: object) -> pd.DataFrame:
    """`classify_series` as known at each cutoff, with a `cutoff` column (for routing backtests)."""
    frames = [classify_series(panel, as_of=c, **kwargs).assign(**{CUTOFF_COL: pd.Timestamp(c)})
              for c in sorted(set(pd.to_datetime(list(cutoffs))))]
    return pd.concat(frames, ignore_index=True)


def model_columns(model: str, levels: Sequence[int] = LEVELS) -> list[str]:
    """The point column of `model` followed by its lo/hi columns at every level."""
    return [model] + [f(model, lv) for lv in levels for f in (lo_col, hi_col)]


def take_model_columns(frame: pd.DataFrame, chosen: Sequence[object] | pd.Series, *,
                       alias: str, levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add pseudo-model `alias`: row by row, a copy of the columns of the model named in `chosen`.

    Rows whose choice is missing (None/NaN) get NaN in every `alias` column.
    """
    chosen = pd.Series(np.asarray(chosen, dtype=object), index=frame.index)
    names = [m for m in pd.unique(chosen.dropna())]
    if alias in names:
        raise ValueError(f"pseudo-model alias {alias!r} is also a chosen model")
    missing = [c for m in names for c in model_columns(m, levels) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing} needed for {alias!r}")
    values = np.full((len(frame), 1 + 2 * len(levels)), np.nan)
    for m in names:
        rows = (chosen == m).to_numpy()
        values[rows] = frame.loc[rows, model_columns(m, levels)].to_numpy(float)
    out = frame.copy()
    out[model_columns(alias, levels)] = values
    return out


def _class_per_row(frame: pd.DataFrame, classes: pd.DataFrame) -> pd.Series:
    """Demand class of each row of `frame`: per series, and per cutoff when `classes` has one."""
    keys = [ID_COL, CUTOFF_COL] if CUTOFF_COL in classes.columns else [ID_COL]
    if CUTOFF_COL in keys and CUTOFF_COL not in frame.columns:
        raise ValueError("classes carry a cutoff but the frame has no 'cutoff' column")
    rows = frame[keys].merge(classes[[*keys, CLASS_COL]], on=keys, how="left",
                             validate="many_to_one")
    if rows[CLASS_COL].isna().any():
        lacking = rows.loc[rows[CLASS_COL].isna(), keys].drop_duplicates().head(5)
        raise ValueError(f"no demand class for {lacking.to_dict('records')}")
    return pd.Series(rows[CLASS_COL].to_numpy(), index=frame.index)


def route(frame: pd.DataFrame, classes: pd.DataFrame, *, smooth: str, intermittent: str,
          alias: str = "Routed", levels: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add pseudo-model `alias`: the `smooth` model for smooth/erratic series, else `intermittent`.

    `classes` is `classify_series` output (one class per series) or `classify_at_cutoffs`
    output (a `cutoff` column), in which case each backtest fold is routed on the class known at
    its own cutoff.
    """
    demand_class = _class_per_row(frame, classes)
    chosen = np.where(demand_class.isin(SMOOTH_SIDE), smooth, intermittent)
    return take_model_columns(frame, chosen, alias=alias, levels=levels)
