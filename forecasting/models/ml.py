"""scikit-learn regressors as one global forecaster over all series, through mlforecast."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.target_transforms import Differences
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from threadpoolctl import threadpool_limits
from utilsforecast.preprocessing import fill_gaps

from forecasting.features.base import KEYS, future_months, month_number, to_month
from forecasting.features.exog import known_ahead_features
from forecasting.models.base import clip_forecasts
from forecasting.schema import (
    FREQ,
    ID_COL,
    LEVELS,
    SEASON_LENGTH,
    TARGET_COL,
    TIME_COL,
    hi_col,
    lo_col,
    validate_panel,
)

STRATEGIES: tuple[str, ...] = ("recursive", "direct")
HORIZON = "horizon"
# a horizon with fewer conformal errors than this borrows the errors of all horizons pooled
MIN_ERRORS = 10
SEED = 0


def series_scale(history: pd.DataFrame, *, as_of: pd.Timestamp) -> pd.Series:
    """Per-series error scale: mean |y| over the 12 months up to as_of (1 when 0 or unknown)."""
    ids = np.sort(history[ID_COL].unique())
    last = as_of - pd.DateOffset(months=SEASON_LENGTH)
    recent = history.loc[history[TIME_COL] > last]
    mean = recent[TARGET_COL].abs().groupby(recent[ID_COL]).mean().reindex(ids)
    return mean.where(mean > 0, 1.0)


def conformal_quantile(errors: np.ndarray, level: int) -> float:
    """Split-conformal half-width: the ceil((n+1) level%)-th smallest error (NaN if none)."""
    errors = np.asarray(errors, dtype=float)
    errors = errors[~np.isnan(errors)]
    n = len(errors)
    if n == 0:
        return np.nan
    rank = min(n, int(np.ceil((n + 1) * level / 100)))
    return float(np.sort(errors)[rank - 1])


def min_length(target_transforms: Sequence[object], lags: Sequence[int], *, direct_h: int = 0,
               ) -> int:
    """Fewest months a series needs for one training row (mlforecast's in-sample fitted values
    need one per series): every difference, the longest lag, plus h - 1 months for `direct_h`."""
    diffs = sum(sum(t.differences) for t in target_transforms if isinstance(t, Differences))
    return 1 + diffs + max(lags, default=0) + max(direct_h - 1, 0)


class NoTrainingRowsError(ValueError):
    """No series has enough months for one training row at this cutoff."""


class GlobalRegressor:
    """One sklearn regressor fitted by mlforecast on all series at once.

    History features are mlforecast's: ``lags`` and ``lag_transforms`` ({lag: [RollingMean(..),
    ExpandingMean(), ...]}) computed on the target after ``target_transforms`` (e.g.
    Differences([12]) then LocalStandardScaler(), so one model serves series of any size and
    trend). The other builders of ``feature_set`` (calendar, policy under the scenario, demand
    drivers) are dynamic exogenous columns built as known at as_of
    (``known_ahead_features``) for the training rows and the h future months, passed to
    ``predict`` as ``X_df``: nothing announced or reported after the cutoff reaches the model.
    No column is static. ``strategy="recursive"`` feeds each step's forecast back into the lags;
    ``"direct"`` fits one model per horizon (mlforecast ``max_horizon=h``).

    Series are gap-filled monthly up to as_of (unknown months linearly interpolated, leading
    ones dropped); a series too short for one training row (`min_length`) gets NaN.
    Estimators that cannot take NaN (Ridge) sit behind a median imputer and a scaler; estimators
    whose ``random_state`` is None get SEED; each step's prediction is clipped to the training
    targets' range (after the transforms) widened by half its span, so a recursion cannot
    explode; fits run with one OpenMP thread (thread start-up
    per predict costs more than it saves on small panels on a busy machine).

    Intervals are symmetric in tonnes around the point. With ``conformal_origins=0`` (fast,
    for backtests) the half-width is the level-quantile of the in-sample one-step absolute
    errors, each divided by its series' scale (`series_scale`), times sqrt(horizon) and the
    series' scale: optimistic, which the backtest's interval calibration then corrects. With
    ``conformal_origins=n`` the model is refitted at n origins as_of - k*h (k = 1..n) and the
    scaled errors of its h-month forecasts give a half-width per horizon (all horizons pooled
    where a horizon has fewer than MIN_ERRORS); NaN when no origin can be fitted.

    After `forecast`, ``future_features_`` holds the (unique_id, ds, features) rows the model
    was fed at each predict step, in model space (after the target transforms).
    """

    def __init__(self, estimator: object, *, alias: str,
                 feature_set: str | Sequence[str] | Mapping[str, dict | None] = "history",
                 lags: Sequence[int] = tuple(range(1, 13)),
                 lag_transforms: Mapping[int, Sequence[object]] | None = None,
                 target_transforms: Sequence[object] | None = None,
                 strategy: str = "recursive", conformal_origins: int = 0) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.estimator = estimator
        self.alias = alias
        self.feature_set = feature_set
        self.lags = [int(lag) for lag in lags]
        self.lag_transforms = {int(k): list(v) for k, v in (lag_transforms or {}).items()}
        self.target_transforms = list(target_transforms or [])
        self.strategy = strategy
        self.conformal_origins = conformal_origins

    @property
    def aliases(self) -> list[str]:
        """The one output column of this model."""
        return [self.alias]

    def forecast(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                 scenario: object | None = None, level: tuple[int, ...] = LEVELS,
                 ) -> pd.DataFrame:
        """Forecast `h` months after `as_of` from the panel up to `as_of` (later rows ignored)."""
        as_of = to_month(as_of)
        history = validate_panel(panel)
        history = history.loc[history[TIME_COL] <= as_of].reset_index(drop=True)
        ids = np.sort(history[ID_COL].unique())
        out = pd.DataFrame({ID_COL: np.repeat(ids, h),
                            TIME_COL: np.tile(future_months(as_of, h), len(ids))})
        with threadpool_limits(limits=1, user_api="openmp"):
            try:
                mlf, preds = self._fit_predict(history, h=h, as_of=as_of, scenario=scenario,
                                               keep_features=True)
            except NoTrainingRowsError:  # an early cutoff: no series is long enough yet
                for col in [self.alias, *(f(self.alias, lv) for lv in level
                                          for f in (lo_col, hi_col))]:
                    out[col] = np.nan
                return out
            if self.conformal_origins > 0:
                widths = self._conformal_widths(history, h=h, as_of=as_of, scenario=scenario,
                                                level=level)
            else:
                widths = self._insample_widths(mlf, history, h=h, as_of=as_of, level=level)
        out = out.merge(preds, on=list(KEYS), how="left")
        scale = out[ID_COL].map(series_scale(history, as_of=as_of)).to_numpy()
        steps = out.groupby(ID_COL).cumcount().to_numpy() + 1
        for lv in level:
            half = pd.Series(steps).map(widths[lv]).to_numpy() * scale
            out[lo_col(self.alias, lv)] = out[self.alias] - half
            out[hi_col(self.alias, lv)] = out[self.alias] + half
        return clip_forecasts(out, self.aliases, level)

    def _prepared(self) -> object:
        """Unfitted, seeded clone of the estimator, behind an imputer if it cannot take NaN."""
        model = clone(self.estimator)
        if model.get_params().get("random_state", SEED) is None:
            model.set_params(random_state=SEED)
        if get_tags(model).input_tags.allow_nan:
            return model
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), model)

    def _frames(self, history: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                scenario: object | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """mlforecast's training frame (y plus exogenous columns) and future X_df, as of as_of."""
        train_x, future_x = known_ahead_features(history, feature_set=self.feature_set, h=h,
                                                 as_of=as_of, scenario=scenario)
        known = history.dropna(subset=[TARGET_COL])[[*KEYS, TARGET_COL]]
        grid = fill_gaps(known, freq=FREQ, start="per_serie", end="per_serie")
        grid[TARGET_COL] = grid.groupby(ID_COL)[TARGET_COL].transform(
            lambda y: y.interpolate(limit_area="inside"))
        need = min_length(self.target_transforms, self.lags,
                          direct_h=h if self.strategy == "direct" else 0)
        long_enough = grid.groupby(ID_COL)[TARGET_COL].transform("size") >= need
        train = grid.loc[long_enough].merge(train_x, on=list(KEYS), how="left")
        exog = [c for c in train_x.columns if c not in KEYS]
        train[exog] = train.groupby(ID_COL)[exog].ffill().fillna(0.0)
        future = future_x.loc[future_x[ID_COL].isin(train[ID_COL].unique())]
        return train.reset_index(drop=True), future.reset_index(drop=True)

    def _fit_predict(self, history: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                     scenario: object | None, keep_features: bool = False,
                     ) -> tuple[MLForecast, pd.DataFrame]:
        """Fit at as_of and forecast h months: (fitted MLForecast, unique_id/ds/alias frame)."""
        train, future = self._frames(history, h=h, as_of=as_of, scenario=scenario)
        if train.empty:
            need = min_length(self.target_transforms, self.lags)
            raise NoTrainingRowsError(f"no training rows: no series has {need} months at or before "
                             f"{as_of:%Y-%m}")
        mlf = MLForecast(models={self.alias: self._prepared()}, freq=FREQ, lags=self.lags,
                         lag_transforms=copy.deepcopy(self.lag_transforms) or None,
                         target_transforms=copy.deepcopy(self.target_transforms) or None)
        mlf.fit(train, static_features=[], fitted=True,
                max_horizon=h if self.strategy == "direct" else None)
        fed: list[pd.DataFrame] = []

        def keep(features: pd.DataFrame) -> pd.DataFrame:
            fed.append(features.copy())
            return features

        # guard the recursion: a step outside the training target range (model space) widened
        # by half its span feeds back into the lags and can explode (seen with Ridge in 2025)
        z = mlf.ts.ga.data[~np.isnan(mlf.ts.ga.data)]
        span = float(np.ptp(z))
        z_range = (float(z.min()) - span / 2, float(z.max()) + span / 2)

        def guard(preds: pd.Series) -> pd.Series:
            return preds.clip(*z_range)

        preds = mlf.predict(h, X_df=future if future.shape[1] > 2 else None,
                            before_predict_callback=keep if keep_features else None,
                            after_predict_callback=guard)
        if keep_features:
            ids = np.sort(train[ID_COL].unique())
            self.future_features_ = pd.concat(
                [frame.reset_index(drop=True).assign(**{ID_COL: ids, TIME_COL: month})
                 for frame, month in zip(fed, future_months(as_of, h), strict=False)],
                ignore_index=True)
        return mlf, preds

    def _insample_widths(self, mlf: MLForecast, history: pd.DataFrame, *, h: int,
                         as_of: pd.Timestamp, level: tuple[int, ...],
                         ) -> dict[int, dict[int, float]]:
        """{level: {horizon: scaled half-width}} from the in-sample one-step errors x sqrt(h)."""
        fitted = mlf.forecast_fitted_values()
        scale = fitted[ID_COL].map(series_scale(history, as_of=as_of)).to_numpy()
        errors = np.abs(fitted[TARGET_COL] - fitted[self.alias]).to_numpy() / scale
        self.insample_errors_ = errors
        return {lv: {k: conformal_quantile(errors, lv) * np.sqrt(k) for k in range(1, h + 1)}
                for lv in level}

    def _conformal_widths(self, history: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                          scenario: object | None, level: tuple[int, ...],
                          ) -> dict[int, dict[int, float]]:
        """{level: {horizon: scaled half-width}} from refits at earlier origins."""
        errors = []
        for k in range(1, self.conformal_origins + 1):
            origin = as_of - pd.DateOffset(months=k * h)
            inner = history.loc[history[TIME_COL] <= origin].reset_index(drop=True)
            try:
                _, preds = self._fit_predict(inner, h=h, as_of=origin, scenario=scenario)
            except ValueError:  # too early to fit at this origin
                continue
            truth = preds.merge(history[[*KEYS, TARGET_COL]], on=list(KEYS)).dropna(
                subset=[TARGET_COL])
            scale = truth[ID_COL].map(series_scale(inner, as_of=origin)).to_numpy()
            steps = month_number(truth[TIME_COL]) - month_number(origin)
            errors.append(pd.DataFrame({
                HORIZON: steps, "error": np.abs(truth[TARGET_COL] - truth[self.alias]) / scale}))
        errors = pd.concat(errors) if errors else pd.DataFrame({HORIZON: [], "error": []})
        pooled = errors["error"].to_numpy()
        widths: dict[int, dict[int, float]] = {}
        for lv in level:
            widths[lv] = {}
            for step in range(1, h + 1):
                own = errors.loc[errors[HORIZON] == step, "error"].to_numpy()
                widths[lv][step] = conformal_quantile(own if len(own) >= MIN_ERRORS else pooled,
                                                      lv)
        return widths
