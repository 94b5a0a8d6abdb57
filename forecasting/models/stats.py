"""statsforecast models as one forecaster: local models per series, optional exogenous features."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.utils import ConformalIntervals

from forecasting.engine import collect, distribute
from forecasting.models.base import clip_forecasts
from forecasting.models.combination import add_combinations, check_combinations
from forecasting.schema import FREQ, ID_COL, LEVELS, TARGET_COL, TIME_COL, hi_col, lo_col

MIN_SERIES_PER_WORKER = 50


def workers(n_jobs: int, n_series: int) -> int:
    """statsforecast's n_jobs for a panel: one process unless every worker gets enough series."""
    cores = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    return 1 if n_series < MIN_SERIES_PER_WORKER * cores else n_jobs


class StatsForecaster:
    """Fit statsforecast models per series and forecast with their intervals.

    `feature_set` (a FEATURE_SETS name or a {builder: params} mapping, as in conf/features) turns on
    exogenous regressors: features are rebuilt as known at `as_of`, future values come from
    the scenario. Models that ignore regressors should live in a forecaster without one.
    `conformal_windows` gives every model conformal intervals (from that many rolling windows
    of `h` months), for models without intervals of their own (Croston, TSB, ADIDA, IMAPA);
    with `conformal_models` (aliases; absent ones ignored) only those models take them, e.g.
    AutoCES, whose own intervals simulate 5,000 paths per series (75 ms a series on 1,000
    SYNTHETIC series against 6 ms for its fit).
    `combinations` ({alias: {members: [model aliases], method: median|mean}}) adds combined
    models computed from the members' forecasts (no refit), each with its own output columns.
    `n_jobs` is statsforecast's worker count over series (-1: every core); panels of fewer than
    MIN_SERIES_PER_WORKER series per worker run in one process, where starting workers would
    cost more than it saves (2 s per fit on the 8 bundled series). Inside a dask or ray
    engine session (forecasting.engine) the fits go through statsforecast's fugue backend on
    the cluster.
    """

    def __init__(self, models: Sequence[object], *, fallback: object | None = None,
                 feature_set: str | Mapping | None = None,
                 conformal_windows: int | None = None,
                 combinations: Mapping[str, Mapping] | None = None,
                 conformal_models: Sequence[str] = (),
                 n_jobs: int = -1) -> None:
        self.models = list(models)
        self.combinations = dict(combinations or {})
        check_combinations(self.combinations, self.model_aliases)
        self.fallback = fallback
        self.feature_set = feature_set
        self.conformal_windows = conformal_windows
        # names of models this forecaster does not have are ignored: a suite overridden
        # without AutoCES keeps the default's setting
        self.conformal_models = [a for a in self.model_aliases if a in set(conformal_models)]
        self._conformal_all = bool(conformal_windows) and not conformal_models
        if conformal_models and not conformal_windows:
            raise ValueError(f"conformal_models {list(conformal_models)} need conformal_windows")
        self.n_jobs = n_jobs

    @property
    def model_aliases(self) -> list[str]:
        """The output column of each fitted model."""
        return [repr(m) if not hasattr(m, "alias") else m.alias for m in self.models]

    @property
    def aliases(self) -> list[str]:
        """The output column of each model, combinations last."""
        return [*self.model_aliases, *self.combinations]

    def forecast(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                 scenario: object | None = None, level: tuple[int, ...] = LEVELS,
                 ) -> pd.DataFrame:
        """Forecast `h` months after `as_of` from the history up to `as_of`."""
        as_of = pd.Timestamp(as_of)
        history = panel.loc[panel[TIME_COL] <= as_of, [ID_COL, TIME_COL, TARGET_COL]]
        x_future = None
        if self.feature_set is not None:
            history, x_future = self._with_features(panel, h=h, as_of=as_of, scenario=scenario)
        if self._conformal_all or self.conformal_models:
            fcst = self._conformal(history, h=h, x_future=x_future, level=level)
        else:
            fcst = self._fit_predict(history, h=h, x_future=x_future, level=level, windows=None)
        fcst = clip_forecasts(fcst.reset_index(drop=True), self.model_aliases, level)
        return add_combinations(fcst[self._columns(fcst, level)], self.combinations, level=level)

    def _fit_predict(self, history: pd.DataFrame, *, h: int, x_future: pd.DataFrame | None,
                     level: tuple[int, ...] | None,
                     windows: ConformalIntervals | None) -> pd.DataFrame:
        """One statsforecast call on fresh copies of the models: conformal `windows` (for
        this `h`) on the models that take them, nothing carried over from an earlier call
        (statsforecast keeps the first windows it is given on a model instance)."""
        models, fallback = self.fresh_models(windows)
        sf = StatsForecast(models=models, freq=FREQ, fallback_model=fallback,
                           n_jobs=workers(self.n_jobs, history[ID_COL].nunique()))
        return collect(sf.forecast(h=h, df=distribute(history), X_df=distribute(x_future),
                                   level=None if level is None else list(level)), history)

    def fresh_models(self, windows: ConformalIntervals | None,
                     ) -> tuple[list[object], object | None]:
        """Copies of the models and the fallback, with conformal `windows` on those that take
        them (every model, or only `conformal_models`); nothing shared with earlier calls."""
        takes = set(self.model_aliases if self._conformal_all else self.conformal_models)
        takes = takes if windows else set()
        models = [_with_windows(m, windows if alias in takes else None)
                  for m, alias in zip(self.models, self.model_aliases, strict=True)]
        fallback = None if self.fallback is None else _with_windows(
            self.fallback, windows if self._conformal_all else None)
        return models, fallback

    def _columns(self, fcst: pd.DataFrame, level: tuple[int, ...]) -> list[str]:
        """Keys, then each model's point and bounds by level: one order whatever the engine
        (statsforecast's local and fugue paths order the bounds differently)."""
        ordered = [c for a in self.model_aliases
                   for c in (a, *(f(a, lv) for lv in sorted(level) for f in (lo_col, hi_col)))]
        return [ID_COL, TIME_COL, *(c for c in ordered if c in fcst.columns)]

    def _conformal(self, history: pd.DataFrame, *, h: int, x_future: pd.DataFrame | None,
                   level: tuple[int, ...]) -> pd.DataFrame:
        """Forecast with conformal intervals for the models that take them. A series too
        short for `conformal_windows` windows of `h` months keeps the other models' own
        intervals; when every model takes conformal ones, it gets a zero-width band (no
        interval, and its coverage says so)."""
        need = self.conformal_windows * h + 1
        size = history.groupby(ID_COL)[TARGET_COL].transform("size")
        windows = ConformalIntervals(h=h, n_windows=self.conformal_windows)
        parts = []
        for long_enough in (True, False):
            ids = history.loc[(size >= need) == long_enough, ID_COL].unique()
            if len(ids) == 0:
                continue
            with_level = long_enough or not self._conformal_all
            part = self._fit_predict(
                history[history[ID_COL].isin(ids)], h=h,
                x_future=None if x_future is None else x_future[x_future[ID_COL].isin(ids)],
                level=level if with_level else None, windows=windows if long_enough else None)
            if not with_level:
                for alias in self.model_aliases:
                    for lvl in level:
                        part[lo_col(alias, lvl)] = part[hi_col(alias, lvl)] = part[alias]
            parts.append(part)
        return pd.concat(parts, ignore_index=True).sort_values([ID_COL, TIME_COL],
                                                               ignore_index=True)

    def _with_features(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                       scenario: object | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        from forecasting.features.exog import known_ahead_features

        train, future = known_ahead_features(panel, feature_set=self.feature_set, h=h, as_of=as_of,
                                         scenario=scenario)
        history = panel.loc[panel[TIME_COL] <= as_of, [ID_COL, TIME_COL, TARGET_COL]]
        history = history.merge(train, on=[ID_COL, TIME_COL], how="left")
        return history, future


def _with_windows(model: object, windows: ConformalIntervals | None) -> object:
    """A copy of a statsforecast model with these conformal windows (None: its own intervals)."""
    fresh = copy.copy(model)
    fresh.prediction_intervals = windows
    return fresh
