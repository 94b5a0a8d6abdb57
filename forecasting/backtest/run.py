"""Rolling-origin backtest: every forecaster refits at every cutoff on what was known then.

A forecaster that raises on some series falls back on them: the baseline model's forecast
stands in for its columns there, the `fallback` column names it, and a warning says which
model failed on which series. A forecaster failing on every series (or on the panel only, or
the baseline's own forecaster) stops the run: that is a broken model, not a bad series.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from forecasting.models.base import Forecaster
from forecasting.models.routing import model_columns
from forecasting.models.stats import MIN_SERIES_PER_WORKER
from forecasting.schema import CUTOFF_COL, ID_COL, LEVELS, STATUS_COL, TARGET_COL, TIME_COL

FALLBACK_COL = "fallback"  # the models whose columns hold the baseline's forecast ("+"-joined)


def _forecast_or_skip(f: Forecaster, history: pd.DataFrame, *, baseline: str | None,
                      **kwargs: object) -> tuple[pd.DataFrame, dict[str, str]]:
    """`f`'s forecast, and {series: error} of the series it fails on, left out of a refit on
    the others. Raises when no baseline can stand in or the failure is not confined to some
    series."""
    try:
        return f.forecast(history, **kwargs), {}
    except Exception:  # one model failing on one series must not sink the run
        if baseline is None or baseline in f.aliases:
            raise
        failed = {}
        for uid, series in history.groupby(ID_COL, sort=True):
            try:
                f.forecast(series, **kwargs)
            except Exception as one:  # noqa: BLE001 -- recorded and reported
                failed[uid] = f"{type(one).__name__}: {one}".splitlines()[0]
        if not failed or len(failed) == history[ID_COL].nunique():
            raise
        return f.forecast(history.loc[~history[ID_COL].isin(list(failed))], **kwargs), failed


def _fill_from_baseline(out: pd.DataFrame, failed: dict[tuple[str, ...], dict[str, str]], *,
                        baseline: str | None, level: tuple[int, ...]) -> pd.DataFrame:
    """The failed series' rows of each failed forecaster's aliases, copied from the baseline;
    FALLBACK_COL names them."""
    out[FALLBACK_COL] = ""
    for aliases, errors in failed.items():
        rows = out[ID_COL].isin(list(errors)).to_numpy()
        for alias in aliases:
            for col, base in zip(model_columns(alias, level), model_columns(baseline, level),
                                 strict=True):
                if col not in out:
                    out[col] = float("nan")
                out.loc[rows, col] = out.loc[rows, base]
        mark = "+".join(aliases)
        out.loc[rows, FALLBACK_COL] = out.loc[rows, FALLBACK_COL].map(
            lambda m, mark=mark: f"{m}+{mark}" if m else mark)
    return out


def _warn(errors: dict[tuple[str, str], list[str]], *, baseline: str | None) -> None:
    """One warning per model and series that fell back: the first error, how many origins."""
    for (model, uid), texts in sorted(errors.items()):
        n = len(texts)
        warnings.warn(f"{model} failed on series {uid} ({texts[0]}): {baseline}'s forecast "
                      f"stands in at {n} forecast origin{'s' if n > 1 else ''} (column "
                      f"{FALLBACK_COL!r})", RuntimeWarning, stacklevel=3)


def n_fallbacks(frame: pd.DataFrame) -> int:
    """How many (model, series, forecast origin) forecasts are the baseline's stand-ins."""
    marked = frame.loc[frame[FALLBACK_COL] != ""]
    keys = [ID_COL, CUTOFF_COL] if CUTOFF_COL in frame else [ID_COL]
    per = marked.drop_duplicates(keys)
    return int(per[FALLBACK_COL].str.count(r"\+").add(1).sum()) if len(per) else 0


def forecast_all(forecasters: Sequence[Forecaster], panel: pd.DataFrame, *, h: int,
                 as_of: pd.Timestamp, scenario: object | None = None,
                 level: tuple[int, ...] = LEVELS, bar: tqdm | None = None,
                 baseline: str | None = None,
                 errors: dict[tuple[str, str], list[str]] | None = None) -> pd.DataFrame:
    """Forecast `h` months after `as_of` with every forecaster; one column set per alias.

    With `baseline` (an alias), a forecaster failing on some series falls back on them (module
    docstring); FALLBACK_COL names the models that did, row by row, and each failure is
    warned, or added to `errors` ({(model, series): [error, ...]}) for the caller to report.
    Combinations across forecasters (objects with `combine`) run last, on the merged frame.
    """
    history = panel.loc[panel[TIME_COL] <= as_of]
    fitted = [f for f in forecasters if not hasattr(f, "combine")]
    found = {} if errors is None else errors
    parts, failed = [], {}
    for f in fitted:
        if bar is not None:
            bar.set_postfix_str(f"{pd.Timestamp(as_of):%Y-%m} {'+'.join(f.aliases)}")
        part, bad = _forecast_or_skip(f, history, baseline=baseline, h=h, as_of=as_of,
                                      scenario=scenario, level=level)
        parts.append(part)
        if bad:
            failed[tuple(f.aliases)] = bad
            for uid, text in bad.items():
                found.setdefault(("+".join(f.aliases), uid), []).append(text)
        if bar is not None:
            bar.update()
    out = reduce(lambda a, b: a.merge(b, on=[ID_COL, TIME_COL], how="outer"), parts)
    out = _fill_from_baseline(out, failed, baseline=baseline, level=level)
    if errors is None:
        _warn(found, baseline=baseline)
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


# a task's forecasts, its fallbacks {(model, series): [error]} and its warnings
TaskResult = tuple[pd.DataFrame, dict[tuple[str, str], list[str]], list[tuple[str, type]]]


@dataclass(frozen=True)
class FinalForecast:
    """A forecast from the last month of `panel` (the publication's), to compute in the
    backtest's worker processes instead of after them."""

    panel: pd.DataFrame
    h: int
    scenario: object | None = None


def _forecast_task(forecasters: Sequence[Forecaster], known: pd.DataFrame | None,
                   history_at: Callable[[pd.Timestamp], pd.DataFrame] | None,
                   as_of: pd.Timestamp, *, cutoff: bool, h: int, scenario: object | None,
                   level: tuple[int, ...], baseline: str | None, bar: tqdm | None = None,
                   ) -> TaskResult:
    """Every forecaster from `as_of` on the history known then (a backtest fold when `cutoff`,
    which then heads its own column); the failures that fell back ({(model, series): [error]})
    and the warnings raised (returned, so a task in a worker process warns in the caller, in
    order, not on the worker's stderr)."""
    history = known if history_at is None else history_at(as_of)
    errors: dict[tuple[str, str], list[str]] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        frame = forecast_all(forecasters, history, h=h, as_of=as_of, scenario=scenario,
                             level=level, bar=bar, baseline=baseline, errors=errors)
    if cutoff:
        frame.insert(2, CUTOFF_COL, as_of)
    return frame, errors, [(str(w.message), w.category) for w in caught]


def _task_or_error(*args: object, **kwargs: object) -> tuple | Exception:
    """`_forecast_task` in a worker process: an error is returned, not raised, so the pool
    finishes cleanly (an aborted pool leaves semaphores for the resource tracker to warn
    about)."""
    try:
        return _forecast_task(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 -- re-raised by PendingBacktest in the caller
        return err


class PendingBacktest:
    """A started backtest: `result()` waits for its folds and final forecasts, `close()`
    stops the worker processes' remaining tasks (a job refused after the start)."""

    def __init__(self, results: Callable[[], list[TaskResult | Exception]], *, n_finals: int,
                 finish: Callable[[list[pd.DataFrame]], pd.DataFrame], baseline: str | None,
                 close: Callable[[], None] = lambda: None) -> None:
        self._results, self._n_finals, self.close = results, n_finals, close
        self._finish, self._baseline = finish, baseline

    def result(self) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
        """The backtest frame (run_backtest's) and the final forecasts, in `finals` order;
        the first failing task's error is raised, every task's warnings are warned here."""
        results = self._results()
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None:  # the first failing task's error, as in the sequential loop
            raise failed
        for part in (results[self._n_finals:], results[:self._n_finals]):
            errors: dict[tuple[str, str], list[str]] = {}
            for _, task_errors, caught in part:
                for key, texts in task_errors.items():
                    errors.setdefault(key, []).extend(texts)
                for message, category in caught:
                    warnings.warn(message, category, stacklevel=2)
            _warn(errors, baseline=self._baseline)
        return (self._finish([r[0] for r in results[self._n_finals:]]),
                [r[0] for r in results[:self._n_finals]])


def start_backtest(panel: pd.DataFrame, forecasters: Sequence[Forecaster], *, h: int,
                   cutoffs: Sequence[pd.Timestamp], scenario: object | None = None,
                   level: tuple[int, ...] = LEVELS, progress: bool = True,
                   history_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
                   baseline: str | None = None, n_jobs: int = 1,
                   finals: Sequence[FinalForecast] = ()) -> PendingBacktest:
    """Start `run_backtest`'s folds, and the `finals` with them, in worker processes when
    the panel is too small for statsforecast's own parallelism (`fold_workers`); the caller
    goes on (e.g. prepares its MLflow run) until it asks for `result()`. Otherwise nothing
    runs before `result()`. The finals go first: they are the longest tasks (publish h)."""
    known = panel if history_at is None else None
    kwargs = dict(level=level, baseline=baseline)
    tasks = [(f.panel, None, f.panel[TIME_COL].max(), dict(cutoff=False, h=f.h,
                                                           scenario=f.scenario))
             for f in finals]
    tasks += [(known, history_at, c, dict(cutoff=True, h=h, scenario=scenario))
              for c in cutoffs]

    def finish(folds: list[pd.DataFrame]) -> pd.DataFrame:
        return _with_actuals(pd.concat(folds, ignore_index=True), panel)

    workers = fold_workers(n_jobs, n_series=panel[ID_COL].nunique(), n_cutoffs=len(tasks))
    if workers > 1:
        jobs = (delayed(_task_or_error)(forecasters, k, at, when, **task, **kwargs)
                for k, at, when, task in tasks)
        started = Parallel(n_jobs=workers, return_as="generator")(jobs)
        return PendingBacktest(
            lambda: list(tqdm(started, total=len(tasks), desc=f"backtest ({workers} processes)",
                              unit="task", disable=not progress, file=sys.stderr)),
            n_finals=len(finals), finish=finish, baseline=baseline, close=started.close)

    def in_turn() -> list:
        bar = tqdm(total=len(tasks) * len(forecasters), desc="backtest", unit="fit",
                   disable=not progress, file=sys.stderr)
        done = [_forecast_task(forecasters, k, at, when, bar=bar, **task, **kwargs)
                for k, at, when, task in tasks]
        bar.close()
        return done

    return PendingBacktest(in_turn, n_finals=len(finals), finish=finish, baseline=baseline)


def run_backtest(panel: pd.DataFrame, forecasters: Sequence[Forecaster], *, h: int,
                 cutoffs: Sequence[pd.Timestamp], scenario: object | None = None,
                 level: tuple[int, ...] = LEVELS, progress: bool = True,
                 history_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
                 baseline: str | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Forecast from each cutoff with the history known then; attach actuals and status.

    `history_at(cutoff)` gives the panel as known at the cutoff (default: `panel` cut there;
    pass ModelInput.panel_at so estimated cells are re-estimated from earlier figures only).
    Features are rebuilt inside each forecaster with `as_of=cutoff`, so no fold sees data or
    policy announcements from after its cutoff. `panel` supplies the actuals scored. Returns
    the backtest frame: unique_id, ds, cutoff, horizon, y, status, the model columns and
    FALLBACK_COL. With `baseline`, a model failing on some series at a cutoff falls back there
    (forecast_all); one warning per model and series says at how many cutoffs. `n_jobs` (-1:
    every core) runs folds in parallel processes on panels too small for statsforecast's own
    parallelism (`fold_workers`); the folds are the same either way.
    """
    return start_backtest(panel, forecasters, h=h, cutoffs=cutoffs, scenario=scenario,
                          level=level, progress=progress, history_at=history_at,
                          baseline=baseline, n_jobs=n_jobs).result()[0]


def _with_actuals(out: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """The folds with the actuals and status of `panel`, the horizon, columns in order."""
    out = out.merge(panel[[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]], on=[ID_COL, TIME_COL],
                    how="left")
    months = (out[TIME_COL].dt.year - out[CUTOFF_COL].dt.year) * 12 + (
        out[TIME_COL].dt.month - out[CUTOFF_COL].dt.month)
    out.insert(3, "horizon", months.astype(int))
    front = [ID_COL, TIME_COL, CUTOFF_COL, "horizon", TARGET_COL, STATUS_COL]
    rest = [c for c in out.columns if c not in (*front, FALLBACK_COL)] + [FALLBACK_COL]
    return out[front + rest].sort_values([CUTOFF_COL, ID_COL, TIME_COL], ignore_index=True)
