"""Rolling-origin backtest: every forecaster refits at every cutoff on what was known then."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import reduce

import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from forecasting.models.base import Forecaster
from forecasting.models.stats import MIN_SERIES_PER_WORKER
from forecasting.schema import CUTOFF_COL, ID_COL, LEVELS, STATUS_COL, TARGET_COL, TIME_COL


def forecast_all(forecasters: Sequence[Forecaster], panel: pd.DataFrame, *, h: int,
                 as_of: pd.Timestamp, scenario: object | None = None,
                 level: tuple[int, ...] = LEVELS, bar: tqdm | None = None) -> pd.DataFrame:
    """Forecast `h` months after `as_of` with every forecaster; one column set per alias.

    Combinations across forecasters (objects with `combine`) run last, on the merged frame.
    """
    history = panel.loc[panel[TIME_COL] <= as_of]
    fitted = [f for f in forecasters if not hasattr(f, "combine")]
    parts = []
    for f in fitted:
        if bar is not None:
            bar.set_postfix_str(f"{pd.Timestamp(as_of):%Y-%m} {'+'.join(f.aliases)}")
        parts.append(f.forecast(history, h=h, as_of=as_of, scenario=scenario, level=level))
        if bar is not None:
            bar.update()
    out = reduce(lambda a, b: a.merge(b, on=[ID_COL, TIME_COL], how="outer"), parts)
    for f in forecasters:
        if hasattr(f, "combine"):
            out = f.combine(out, level=level)
            if bar is not None:
                bar.update()
    return out


def fold_workers(n_jobs: int, *, n_series: int, n_cutoffs: int) -> int:
    """Processes over cutoffs: the cores statsforecast leaves idle on a small panel.

    statsforecast spreads series over cores only when each worker gets enough series
    (models.stats.workers); below that, cutoffs are the parallel axis, at most one per process.
    """
    cores = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    if n_series >= MIN_SERIES_PER_WORKER * cores:
        return 1
    return max(1, min(cores, n_cutoffs))


def _fold(forecasters: Sequence[Forecaster], known: pd.DataFrame | None,
          history_at: Callable[[pd.Timestamp], pd.DataFrame] | None, cutoff: pd.Timestamp, *,
          h: int, scenario: object | None, level: tuple[int, ...],
          bar: tqdm | None = None) -> pd.DataFrame:
    """One backtest fold: every forecaster from `cutoff` on the history known then."""
    history = known if history_at is None else history_at(cutoff)
    fold = forecast_all(forecasters, history, h=h, as_of=cutoff, scenario=scenario,
                        level=level, bar=bar)
    fold.insert(2, CUTOFF_COL, cutoff)
    return fold


def run_backtest(panel: pd.DataFrame, forecasters: Sequence[Forecaster], *, h: int,
                 cutoffs: Sequence[pd.Timestamp], scenario: object | None = None,
                 level: tuple[int, ...] = LEVELS, progress: bool = True,
                 history_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
                 n_jobs: int = 1) -> pd.DataFrame:
    """Forecast from each cutoff with the history known then; attach actuals and status.

    `history_at(cutoff)` gives the panel as known at the cutoff (default: `panel` cut there;
    pass ModelInput.panel_at so estimated cells are re-estimated from earlier figures only).
    Features are rebuilt inside each forecaster with `as_of=cutoff`, so no fold sees data or
    policy announcements from after its cutoff. `panel` supplies the actuals scored. `n_jobs`
    (-1: every core) runs folds in parallel processes on panels too small for statsforecast's
    own parallelism (`fold_workers`); the folds are the same either way. Returns the backtest
    frame: unique_id, ds, cutoff, horizon, y, status and the model columns.
    """
    known = panel if history_at is None else None
    workers = fold_workers(n_jobs, n_series=panel[ID_COL].nunique(), n_cutoffs=len(cutoffs))
    if workers > 1:
        jobs = (delayed(_fold)(forecasters, known, history_at, cutoff, h=h, scenario=scenario,
                               level=level) for cutoff in cutoffs)
        folds = list(tqdm(Parallel(n_jobs=workers, return_as="generator")(jobs),
                          total=len(cutoffs), desc=f"backtest ({workers} processes)",
                          unit="cutoff", disable=not progress, file=sys.stderr))
    else:
        bar = tqdm(total=len(cutoffs) * len(forecasters), desc="backtest", unit="fit",
                   disable=not progress, file=sys.stderr)
        folds = [_fold(forecasters, known, history_at, cutoff, h=h, scenario=scenario,
                       level=level, bar=bar) for cutoff in cutoffs]
        bar.close()
    out = pd.concat(folds, ignore_index=True)
    out = out.merge(panel[[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]], on=[ID_COL, TIME_COL],
                    how="left")
    months = (out[TIME_COL].dt.year - out[CUTOFF_COL].dt.year) * 12 + (
        out[TIME_COL].dt.month - out[CUTOFF_COL].dt.month)
    out.insert(3, "horizon", months.astype(int))
    front = [ID_COL, TIME_COL, CUTOFF_COL, "horizon", TARGET_COL, STATUS_COL]
    rest = [c for c in out.columns if c not in front]
    return out[front + rest].sort_values([CUTOFF_COL, ID_COL, TIME_COL], ignore_index=True)
