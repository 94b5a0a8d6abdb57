"""GlobalRegressor (mlforecast): output contract, recursion, no look-ahead, accuracy, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlforecast.lag_transforms import RollingMean
from mlforecast.target_transforms import Differences, LocalStandardScaler
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from forecasting.features.exog import known_ahead_features
from forecasting.models.base import Forecaster
from forecasting.models.ml import GlobalRegressor, conformal_quantile
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, hi_col, lo_col

AS_OF = pd.Timestamp("2023-06-01")
H = 6
KEYS = [ID_COL, TIME_COL]


def hgb(**params) -> HistGradientBoostingRegressor:
    """A small, fast gradient-boosting regressor."""
    return HistGradientBoostingRegressor(max_iter=60, **params)


def scaled(**params) -> dict:
    """The default recipe: seasonal difference, per-series standardisation, lags 1-12."""
    return {"lags": range(1, 13), "lag_transforms": {1: [RollingMean(3)]},
            "target_transforms": [Differences([12]), LocalStandardScaler()]} | params


def strongly_seasonal(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with a +-70% yearly cycle on every series (WORLD stays the sum)."""
    out = panel.copy()
    month = out[TIME_COL].dt.month.to_numpy()
    out[TARGET_COL] = out[TARGET_COL] * (1 + 0.7 * np.cos(2 * np.pi * (month - 1) / 12))
    return out


def assert_nested(fcst: pd.DataFrame, alias: str) -> None:
    """lo95 <= lo80 <= point <= hi80 <= hi95, all finite and >= 0."""
    cols = [lo_col(alias, 95), lo_col(alias, 80), alias, hi_col(alias, 80), hi_col(alias, 95)]
    values = fcst[cols].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (np.diff(values, axis=1) >= 0).all()


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_output_contract_and_nested_intervals(make_panel, strategy):
    panel = make_panel(n_series=3, months=60, zero_frac=0.1)
    model = GlobalRegressor(hgb(), alias="hgb", strategy=strategy, **scaled())
    assert isinstance(model, Forecaster) and model.aliases == ["hgb"]

    fcst = model.forecast(panel, h=H, as_of=AS_OF)

    assert list(fcst.columns) == [ID_COL, TIME_COL, "hgb", "hgb-lo-80", "hgb-hi-80",
                                  "hgb-lo-95", "hgb-hi-95"]
    ids = sorted(panel[ID_COL].unique())
    months = pd.date_range("2023-07-01", periods=H, freq="MS")
    assert len(fcst) == len(ids) * H
    for _, rows in fcst.groupby(ID_COL):
        assert list(rows[TIME_COL]) == list(months)
    assert_nested(fcst, "hgb")
    assert (fcst["hgb-hi-95"] > fcst["hgb-lo-95"]).all()


def test_recursive_lags_are_the_forecasts_not_actuals(make_panel):
    panel = make_panel(n_series=3, months=60)
    model = GlobalRegressor(hgb(), alias="hgb", lags=[1, 2])  # no transform: lags in tonnes
    fcst = model.forecast(panel, h=H, as_of=AS_OF).set_index(KEYS)["hgb"]
    fed = model.future_features_.set_index(KEYS)
    actual = panel.set_index(KEYS)[TARGET_COL]

    month = pd.date_range("2023-07-01", periods=3, freq="MS")
    for uid in panel[ID_COL].unique():
        assert fed.loc[(uid, month[0]), "lag1"] == actual.loc[(uid, AS_OF)]
        assert fed.loc[(uid, month[1]), "lag1"] == pytest.approx(fcst.loc[(uid, month[0])])
        assert fed.loc[(uid, month[2]), "lag2"] == pytest.approx(fcst.loc[(uid, month[0])])
        assert fed.loc[(uid, month[2]), "lag1"] == pytest.approx(fcst.loc[(uid, month[1])])
        assert fed.loc[(uid, month[1]), "lag1"] != actual.loc[(uid, month[0])]


def test_direct_strategy_feeds_only_lags_known_at_the_cutoff(make_panel):
    panel = make_panel(n_series=3, months=60)
    model = GlobalRegressor(hgb(), alias="hgb", lags=[1, 2], strategy="direct")
    model.forecast(panel, h=3, as_of=AS_OF)
    fed = model.future_features_.set_index(KEYS)
    actual = panel.set_index(KEYS)[TARGET_COL]
    for uid in panel[ID_COL].unique():
        lag1 = fed.xs(uid, level=ID_COL)["lag1"]
        assert (lag1 == actual.loc[(uid, AS_OF)]).all()


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_data_after_the_cutoff_changes_nothing(make_panel, strategy):
    panel = make_panel(n_series=3, months=60)
    late = panel[TIME_COL] > AS_OF
    perturbed = panel.copy()
    perturbed.loc[late, TARGET_COL] *= 10
    perturbed.loc[late, "status"] = "estimated"
    model = GlobalRegressor(hgb(), alias="hgb", feature_set="full", strategy=strategy,
                            conformal_origins=1, **scaled())

    truncated_fcst = model.forecast(panel.loc[~late], h=4, as_of=AS_OF)
    perturbed_fcst = model.forecast(perturbed, h=4, as_of=AS_OF)

    pd.testing.assert_frame_equal(truncated_fcst, perturbed_fcst)


def test_policy_columns_are_as_known_at_the_cutoff(make_panel):
    panel = make_panel(n_series=3, start="2021-01", months=60)  # to 2025-12
    as_of = pd.Timestamp("2025-06-01")
    model = GlobalRegressor(hgb(), alias="hgb", feature_set="history_policy", **scaled())

    model.forecast(panel, h=H, as_of=as_of)

    fed = model.future_features_.set_index(KEYS).sort_index()
    _, built = known_ahead_features(panel, feature_set="history_policy", h=H, as_of=as_of)
    _, later = known_ahead_features(panel, feature_set="history_policy", h=1,
                                    as_of=pd.Timestamp("2025-11-01"))
    pol = [c for c in built.columns if c.startswith("pol_")]
    assert pol and set(pol) <= set(fed.columns)
    expected = built.set_index(KEYS).sort_index()[pol]
    pd.testing.assert_frame_equal(fed[pol], expected, check_dtype=False)
    # rebuilding at a later cutoff would have changed them (the autumn 2025 announcements)
    december = later.set_index(KEYS)[pol].xs(pd.Timestamp("2025-12-01"), level=TIME_COL)
    assert not december.equals(expected.xs(pd.Timestamp("2025-12-01"), level=TIME_COL)
                               .reindex(columns=december.columns))


@pytest.mark.parametrize(("estimator", "strategy"), [(hgb(), "recursive"), (Ridge(), "direct")])
def test_beats_a_flat_mean_on_a_seasonal_panel(make_panel, estimator, strategy):
    panel = strongly_seasonal(make_panel(n_series=4, months=96, seed=1))
    as_of = pd.Timestamp("2026-12-01") - pd.DateOffset(months=12)
    model = GlobalRegressor(estimator, alias="m", strategy=strategy, **scaled())

    fcst = model.forecast(panel, h=12, as_of=as_of).merge(panel, on=KEYS)

    recent = panel.loc[(panel[TIME_COL] <= as_of)
                       & (panel[TIME_COL] > as_of - pd.DateOffset(months=12))]
    flat = fcst[ID_COL].map(recent.groupby(ID_COL)[TARGET_COL].mean())
    mae_model = (fcst["m"] - fcst[TARGET_COL]).abs().mean()
    mae_flat = (flat - fcst[TARGET_COL]).abs().mean()
    assert mae_model < 0.5 * mae_flat
    assert_nested(fcst, "m")


def test_deterministic_and_estimator_untouched(make_panel):
    panel = make_panel(n_series=3, months=48)
    estimator = ExtraTreesRegressor(n_estimators=20, max_features=0.5)
    model = GlobalRegressor(estimator, alias="et", conformal_origins=1, **scaled())

    first = model.forecast(panel, h=3, as_of=panel[TIME_COL].max())
    second = model.forecast(panel, h=3, as_of=panel[TIME_COL].max())

    pd.testing.assert_frame_equal(first, second)
    assert estimator.random_state is None and not hasattr(estimator, "estimators_")


def test_series_too_short_for_the_transforms_get_nan(make_panel):
    panel = make_panel(n_series=3, months=60)
    young = panel.loc[panel[ID_COL] == "DE"].tail(8).assign(**{ID_COL: "ZZ"})
    fcst = GlobalRegressor(hgb(), alias="hgb", **scaled()).forecast(
        pd.concat([panel, young]), h=3, as_of=panel[TIME_COL].max())
    assert fcst.loc[fcst[ID_COL] == "ZZ", "hgb"].isna().all()
    assert fcst.loc[fcst[ID_COL] != "ZZ", "hgb"].notna().all()


def test_conformal_origins_give_per_horizon_widths_in_series_scale(make_panel):
    panel = make_panel(n_series=3, months=60)
    fcst = GlobalRegressor(hgb(), alias="hgb", conformal_origins=2, **scaled()).forecast(
        panel, h=6, as_of=panel[TIME_COL].max())
    half = (fcst["hgb-hi-80"] - fcst["hgb"]).groupby(fcst[ID_COL]).mean()
    level = panel.loc[panel[TIME_COL] > panel[TIME_COL].max() - pd.DateOffset(months=12)]
    level = level.groupby(ID_COL)[TARGET_COL].mean()
    ratio = (half / level).to_numpy()  # the same scaled width for a small and a big series
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)
    assert_nested(fcst, "hgb")


def test_no_conformal_errors_gives_nan_intervals_not_invented_ones(make_panel):
    panel = make_panel(n_series=2, months=14)
    fcst = GlobalRegressor(hgb(), alias="hgb", lags=[1, 2], conformal_origins=2).forecast(
        panel, h=12, as_of=panel[TIME_COL].max())  # every inner origin is too early to fit
    assert fcst["hgb"].notna().all()
    assert fcst[["hgb-lo-80", "hgb-hi-95"]].isna().all().all()


def test_zero_origins_use_in_sample_errors_growing_with_horizon(make_panel):
    panel = make_panel(n_series=2, months=48)
    model = GlobalRegressor(hgb(), alias="hgb", **scaled())
    fcst = model.forecast(panel, h=4, as_of=panel[TIME_COL].max())
    half = fcst["hgb-hi-80"] - fcst["hgb"]
    steps = fcst.groupby(ID_COL).cumcount() + 1
    per_series = (half / np.sqrt(steps)).groupby(fcst[ID_COL]).nunique()
    assert (per_series == 1).all() or np.allclose((half / np.sqrt(steps)).groupby(
        fcst[ID_COL]).std(), 0)
    assert conformal_quantile(model.insample_errors_, 80) > 0


def test_conformal_quantile_is_the_finite_sample_rank():
    errors = np.arange(1.0, 11.0)
    assert conformal_quantile(errors, 80) == 9.0  # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(errors, 95) == 10.0  # rank beyond n -> the largest
    assert np.isnan(conformal_quantile(np.array([]), 80))


def test_bad_inputs_raise(make_panel):
    with pytest.raises(ValueError, match="strategy must be one of"):
        GlobalRegressor(hgb(), alias="m", strategy="dirrec")
    short = make_panel(months=10)  # an early cutoff: no series long enough, forecasts are NaN
    fc = GlobalRegressor(hgb(), alias="m", **scaled()).forecast(short, h=2,
                                                                as_of=short[TIME_COL].max())
    assert len(fc) == 2 * short["unique_id"].nunique()
    assert fc[["m", "m-lo-80", "m-hi-95"]].isna().all().all()
