"""scikit-learn regressors as one global, recursive forecaster over all destinations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from threadpoolctl import threadpool_limits

from forecasting.features.base import KEYS, future_months, to_month
from forecasting.features.history import build_history
from forecasting.features.pipeline import build_features, resolve_builders
from forecasting.models.base import clip_forecasts
from forecasting.schema import (
    ID_COL,
    LEVELS,
    SEASON_LENGTH,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    hi_col,
    lo_col,
    validate_panel,
)

TARGETS: tuple[str, ...] = ("log1p", "mean")
# history-builder columns measured in tonnes: scaled like the target so series of any size share
LEVEL_FEATURE = re.compile(r"^(lag\d+|rolling_(mean|std)_\d+)$")
LAG_FEATURE = re.compile(r"^lag\d+$")
ID_PREFIX = "id="
POINT = "point"
HORIZON = "horizon"
# a horizon with fewer conformal errors than this borrows the errors of all horizons pooled
MIN_ERRORS = 10
SEED = 0


def series_scale(history: pd.DataFrame, *, as_of: pd.Timestamp, target: str) -> pd.Series:
    """Per-series divisor of y: 1 for 'log1p'; for 'mean' the mean y of the 12 months up to as_of
    (1 when that is 0 or unknown)."""
    ids = np.sort(history[ID_COL].unique())
    if target == "log1p":
        return pd.Series(1.0, index=ids)
    last = as_of - pd.DateOffset(months=SEASON_LENGTH)
    mean = history.loc[history[TIME_COL] > last].groupby(ID_COL)[TARGET_COL].mean()
    mean = mean.reindex(ids)
    return mean.where(mean > 0, 1.0)


def to_scaled(values: np.ndarray, scale: np.ndarray, *, target: str) -> np.ndarray:
    """Tonnes -> model space: log1p(y) for 'log1p', y / series scale for 'mean'."""
    ratio = np.asarray(values, dtype=float) / scale
    return np.log1p(ratio) if target == "log1p" else ratio


def from_scaled(values: np.ndarray, scale: np.ndarray, *, target: str) -> np.ndarray:
    """Model space -> tonnes (inverse of `to_scaled`)."""
    values = np.asarray(values, dtype=float)
    return (np.expm1(values) if target == "log1p" else values) * scale


def conformal_quantile(errors: np.ndarray, level: int) -> float:
    """Split-conformal half-width: the ceil((n+1) level%)-th smallest error (NaN if none)."""
    n = len(errors)
    if n == 0:
        return np.nan
    rank = min(n, int(np.ceil((n + 1) * level / 100)))
    return float(np.sort(errors)[rank - 1])


def quantile_levels(level: Sequence[int]) -> dict[str, float]:
    """{'lo-80': 0.1, 'hi-80': 0.9, ...}: the central-interval quantile of each bound."""
    out = {}
    for lv in level:
        out[f"lo-{lv}"] = (1 - lv / 100) / 2
        out[f"hi-{lv}"] = 1 - (1 - lv / 100) / 2
    return out


class GlobalRegressor:
    """One sklearn regressor fitted on all destinations at once, forecasting recursively.

    Target: ``target="log1p"`` models log1p(y); ``"mean"`` models y divided by the series' mean
    over the 12 months up to as_of (1 when that mean is 0 or unknown). The history builder's
    tonnage columns (lags, rolling means and stds) get the same transform, so big and small
    destinations share one model; a one-hot ``id=<unique_id>`` column per series lets it keep
    series levels apart.

    Features come from ``forecasting.features.pipeline.build_features(feature_set)`` built once at
    as_of. Training rows need a known y and every ``lag<k>`` feature; feature columns empty in
    training and non-numeric ones (labels such as ``pol_regime``, whose one-hot columns the
    builder also provides) are left out; other NaN go to the estimator as NaN when it handles
    them (e.g. HistGradientBoosting), else through a median SimpleImputer + StandardScaler
    pipeline.
    Forecasts are recursive: month as_of+k uses history-builder columns recomputed by
    ``build_history`` from the panel extended with the forecasts of months as_of+1..as_of+k-1
    (those rows keep each series' last status), while calendar / policy / driver columns stay
    as built at as_of, so nothing announced after the cutoff leaks in.

    Intervals: with ``quantile_estimator`` (e.g. HistGradientBoostingRegressor(loss="quantile")),
    one clone per bound fitted at its quantile (``quantile`` or ``alpha`` parameter) and fed
    the point recursion's features. Otherwise conformal: the model is refitted at
    ``conformal_origins`` inner origins as_of - k*h months (k = 1..n, spaced by h so every
    horizon gets errors; origins without training rows are skipped) and forecast h months
    recursively; the absolute errors in model space per horizon give symmetric half-widths
    (`conformal_quantile`), pooled over all horizons where a horizon has fewer than MIN_ERRORS;
    NaN intervals when there are no errors at all. With ``conformal_origins=0`` (fast, for
    backtests) the half-width is the in-sample absolute-residual quantile times sqrt(horizon):
    optimistic, which the backtest's interval calibration then corrects. Bounds are
    back-transformed (multiplicative in tonnes for log1p), clipped at 0 and nested across levels.

    Estimators whose ``random_state`` is None get SEED, so forecasts are deterministic. Fits and
    predictions run with one OpenMP thread: on panels this small, thread start-up per
    recursive predict costs more than it saves (10x slower on a busy 2-core machine).

    After `forecast`, ``future_features_`` holds the (unique_id, ds, features) rows the point
    model was fed, in tonnes, recursive columns included.
    """

    def __init__(self, estimator: object, *, alias: str, feature_set: str | Sequence[str]
                 | Mapping[str, dict | None] = "history", target: str = "log1p",
                 quantile_estimator: object | None = None, conformal_origins: int = 3) -> None:
        self.estimator = estimator
        self.alias = alias
        self.feature_set = feature_set
        self.target = target
        self.quantile_estimator = quantile_estimator
        self.conformal_origins = conformal_origins

    @property
    def aliases(self) -> list[str]:
        """The one output column of this model."""
        return [self.alias]

    def forecast(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                 scenario: object | None = None, level: tuple[int, ...] = LEVELS,
                 ) -> pd.DataFrame:
        """Forecast `h` months after `as_of` from the panel up to `as_of` (later rows ignored)."""
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        as_of = to_month(as_of)
        history = validate_panel(panel)
        history = history.loc[history[TIME_COL] <= as_of].reset_index(drop=True)
        bounds = quantile_levels(level) if self.quantile_estimator is not None else {}
        with threadpool_limits(limits=1, user_api="openmp"):
            preds = self._recursive(history, h=h, as_of=as_of, scenario=scenario, bounds=bounds,
                                    keep_features=True)
            if preds is None:
                raise ValueError("no training rows with a known y and lags at or before "
                                 f"{as_of:%Y-%m}")
            if bounds:
                widths = {}
            elif self.conformal_origins > 0:
                widths = self._conformal_widths(history, h=h, as_of=as_of, scenario=scenario,
                                                level=level)
            else:
                widths = {lv: {k: conformal_quantile(self.insample_errors_, lv) * np.sqrt(k)
                               for k in range(1, h + 1)} for lv in level}
        if not bounds:
            for lv in level:
                half = preds[HORIZON].map(widths[lv]).to_numpy()
                preds[f"lo-{lv}"] = preds[POINT] - half
                preds[f"hi-{lv}"] = preds[POINT] + half
        out = preds[list(KEYS)].copy()
        scale = preds["scale"].to_numpy()
        out[self.alias] = np.maximum(from_scaled(preds[POINT], scale, target=self.target), 0.0)
        for lv in level:
            out[lo_col(self.alias, lv)] = from_scaled(preds[f"lo-{lv}"], scale, target=self.target)
            out[hi_col(self.alias, lv)] = from_scaled(preds[f"hi-{lv}"], scale, target=self.target)
        return clip_forecasts(out, self.aliases, level)

    def _prepared(self, estimator: object, **params: float) -> object:
        """Unfitted clone with `params` set, seeded, behind an imputer if it cannot take NaN."""
        model = clone(estimator).set_params(**params)
        if model.get_params().get("random_state", SEED) is None:
            model.set_params(random_state=SEED)
        if get_tags(model).input_tags.allow_nan:
            return model
        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), model)

    def _models(self, bounds: dict[str, float]) -> dict[str, object]:
        """The unfitted point model and one quantile model per interval bound."""
        models = {POINT: self._prepared(self.estimator)}
        if bounds:
            key = "quantile" if "quantile" in self.quantile_estimator.get_params() else "alpha"
            models |= {name: self._prepared(self.quantile_estimator, **{key: q})
                       for name, q in bounds.items()}
        return models

    def _design(self, features: pd.DataFrame, scale: pd.Series, columns: list[str],
                ids: np.ndarray) -> pd.DataFrame:
        """Model matrix: feature `columns` (tonnage ones scaled) plus one-hot series identity."""
        x = features[columns].astype(float)
        row_scale = features[ID_COL].map(scale).fillna(1.0).to_numpy()
        for col in columns:
            if LEVEL_FEATURE.match(col):
                x[col] = to_scaled(x[col].to_numpy(), row_scale, target=self.target)
        onehot = features[ID_COL].to_numpy()[:, None] == ids[None, :]
        dummies = pd.DataFrame(onehot.astype(float), columns=[ID_PREFIX + str(i) for i in ids],
                               index=x.index)
        return pd.concat([x, dummies], axis=1)

    def _recursive(self, history: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                   scenario: object | None, bounds: dict[str, float],
                   keep_features: bool = False) -> pd.DataFrame | None:
        """Fit at as_of and forecast h months recursively, in model space (None: nothing to fit).

        Returns unique_id, ds, horizon, scale, point and one column per bound in `bounds`.
        """
        train, future = build_features(history, builders=self.feature_set, h=h, as_of=as_of,
                                       scenario=scenario)
        train = train.merge(history[[*KEYS, TARGET_COL]], on=list(KEYS), how="left")
        lags = [c for c in train.columns if LAG_FEATURE.match(c)]
        train = train.dropna(subset=[TARGET_COL, *lags])
        if train.empty:
            return None
        features = [c for c in future.columns if c not in KEYS and train[c].notna().any()
                    and (is_numeric_dtype(train[c]) or is_bool_dtype(train[c]))]
        scale = series_scale(history, as_of=as_of, target=self.target)
        ids = scale.index.to_numpy()
        x_train = self._design(train, scale, features, ids)
        z_train = to_scaled(train[TARGET_COL].to_numpy(),
                            train[ID_COL].map(scale).to_numpy(), target=self.target)
        models = {name: model.fit(x_train, z_train)
                  for name, model in self._models(bounds).items()}
        # guard the recursion: a prediction outside the training target range widened by half
        # its span feeds back into the lags and can explode (seen with Ridge on the 2025 shock)
        self.insample_errors_ = np.abs(z_train - models[POINT].predict(x_train))
        span = float(np.ptp(z_train))
        z_range = (float(z_train.min()) - span / 2, float(z_train.max()) + span / 2)

        history_params = resolve_builders(self.feature_set).get("history")
        last_status = history.groupby(ID_COL)[STATUS_COL].last()
        extended, steps, fed = history, [], []
        months = future_months(as_of, h)
        for k, month in enumerate(months, start=1):
            step = future.loc[future[TIME_COL] == month].reset_index(drop=True)
            if k > 1 and history_params is not None:
                _, recent = build_history(extended, h=1, as_of=months[k - 2], **history_params)
                recomputed = [c for c in recent.columns if c not in KEYS]
                step = step.drop(columns=recomputed).merge(recent, on=list(KEYS), how="left")
            x = self._design(step, scale, features, ids)
            z = {name: np.clip(model.predict(x), *z_range) for name, model in models.items()}
            row_scale = step[ID_COL].map(scale).to_numpy()
            y_hat = np.maximum(from_scaled(z[POINT], row_scale, target=self.target), 0.0)
            extended = pd.concat([extended, pd.DataFrame({
                ID_COL: step[ID_COL], TIME_COL: month, TARGET_COL: y_hat,
                STATUS_COL: step[ID_COL].map(last_status)})], ignore_index=True)
            steps.append(step[list(KEYS)].assign(**{HORIZON: k, "scale": row_scale}, **z))
            fed.append(step[[*KEYS, *features]])
        if keep_features:
            self.future_features_ = pd.concat(fed, ignore_index=True)
        return pd.concat(steps, ignore_index=True)

    def _conformal_widths(self, history: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                          scenario: object | None, level: tuple[int, ...],
                          ) -> dict[int, dict[int, float]]:
        """{level: {horizon: half-width in model space}} from recursive inner-origin errors."""
        errors = []
        for k in range(1, self.conformal_origins + 1):
            origin = as_of - pd.DateOffset(months=k * h)
            inner = history.loc[history[TIME_COL] <= origin].reset_index(drop=True)
            if inner.empty:
                continue
            preds = self._recursive(inner, h=h, as_of=origin, scenario=scenario, bounds={})
            if preds is None:
                continue
            truth = preds.merge(history[[*KEYS, TARGET_COL]], on=list(KEYS)).dropna(
                subset=[TARGET_COL])
            actual = to_scaled(truth[TARGET_COL].to_numpy(), truth["scale"].to_numpy(),
                               target=self.target)
            errors.append(pd.DataFrame({HORIZON: truth[HORIZON],
                                        "error": np.abs(actual - truth[POINT].to_numpy())}))
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
