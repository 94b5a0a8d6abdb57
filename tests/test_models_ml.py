"""GlobalRegressor: output contract, recursive lags, no look-ahead, accuracy, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV

from forecasting.features.pipeline import build_features
from forecasting.models.base import Forecaster
from forecasting.models.ml import GlobalRegressor, conformal_quantile
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, hi_col, lo_col

AS_OF = pd.Timestamp("2023-06-01")
H = 6
KEYS = [ID_COL, TIME_COL]


def hgb(**params) -> HistGradientBoostingRegressor:
    """A small, fast gradient-boosting regressor."""
    return HistGradientBoostingRegressor(max_iter=60, **params)


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


def test_output_contract_and_nested_intervals(make_panel):
    panel = make_panel(n_series=3, months=60, zero_frac=0.1)
    model = GlobalRegressor(hgb(), alias="hgb")
    assert isinstance(model, Forecaster) and model.aliases == ["hgb"]

    fcst = model.forecast(panel, h=H, as_of=AS_OF)

    assert list(fcst.columns) == [ID_COL, TIME_COL, "hgb", "hgb-lo-80", "hgb-hi-80",
                                  "hgb-lo-95", "hgb-hi-95"]
    ids = sorted(panel[ID_COL].unique())
    months = pd.date_range("2023-07-01", periods=H, freq="MS")
    assert len(fcst) == len(ids) * H
    assert sorted(fcst[ID_COL].unique()) == ids
    for _, rows in fcst.groupby(ID_COL):
        assert list(rows[TIME_COL]) == list(months)
    assert_nested(fcst, "hgb")
    assert (fcst["hgb-hi-95"] > fcst["hgb-lo-95"]).all()


def test_recursive_lags_are_the_forecasts_not_actuals(make_panel):
    panel = make_panel(n_series=3, months=60)
    model = GlobalRegressor(hgb(), alias="hgb", conformal_origins=0)
    fcst = model.forecast(panel, h=H, as_of=AS_OF).set_index(KEYS)["hgb"]
    fed = model.future_features_.set_index(KEYS)
    actual = panel.set_index(KEYS)[TARGET_COL]

    for uid in panel[ID_COL].unique():
        month = pd.date_range("2023-07-01", periods=3, freq="MS")
        assert fed.loc[(uid, month[0]), "lag1"] == actual.loc[(uid, AS_OF)]
        assert fed.loc[(uid, month[1]), "lag1"] == pytest.approx(fcst.loc[(uid, month[0])],
                                                                 rel=1e-12)
        assert fed.loc[(uid, month[2]), "lag2"] == pytest.approx(fcst.loc[(uid, month[0])],
                                                                 rel=1e-12)
        assert fed.loc[(uid, month[2]), "lag1"] == pytest.approx(fcst.loc[(uid, month[1])],
                                                                 rel=1e-12)
        # the actual of month 1 is not what step 2 was fed
        assert fed.loc[(uid, month[1]), "lag1"] != actual.loc[(uid, month[0])]
    assert fed["rolling_mean_3"].notna().all()


def test_rows_after_as_of_are_ignored(make_panel):
    panel = make_panel(n_series=3, months=60)
    late = panel[TIME_COL] > AS_OF
    perturbed = panel.copy()
    perturbed.loc[late, TARGET_COL] *= 10
    perturbed.loc[late, "status"] = "estimated"
    model = GlobalRegressor(hgb(), alias="hgb")

    truncated_fcst = model.forecast(panel.loc[~late], h=4, as_of=AS_OF)
    perturbed_fcst = model.forecast(perturbed, h=4, as_of=AS_OF)

    pd.testing.assert_frame_equal(truncated_fcst, perturbed_fcst)


@pytest.mark.parametrize(("estimator", "target"), [(hgb(), "log1p"), (RidgeCV(), "mean")])
def test_beats_a_flat_mean_on_a_seasonal_panel(make_panel, estimator, target):
    panel = strongly_seasonal(make_panel(n_series=4, months=96, seed=1))
    as_of = pd.Timestamp("2026-12-01") - pd.DateOffset(months=12)
    model = GlobalRegressor(estimator, alias="m", target=target, conformal_origins=1)

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
    model = GlobalRegressor(estimator, alias="et", conformal_origins=1)

    first = model.forecast(panel, h=3, as_of=panel[TIME_COL].max())
    second = model.forecast(panel, h=3, as_of=panel[TIME_COL].max())

    pd.testing.assert_frame_equal(first, second)
    assert estimator.random_state is None and not hasattr(estimator, "estimators_")


def test_quantile_estimator_gives_the_intervals(make_panel):
    panel = make_panel(n_series=3, months=60)
    model = GlobalRegressor(hgb(), alias="q", quantile_estimator=hgb(loss="quantile"),
                            conformal_origins=0)

    fcst = model.forecast(panel, h=H, as_of=AS_OF)

    assert_nested(fcst, "q")
    assert (fcst["q-hi-95"] > fcst["q-lo-95"]).mean() > 0.9


def test_short_history_pools_conformal_errors_over_horizons(make_panel):
    # 30 months, h=12: only the inner origin 12 months back can be fitted -> 4 errors a horizon
    panel = make_panel(n_series=3, months=30)
    model = GlobalRegressor(hgb(), alias="hgb")

    fcst = model.forecast(panel, h=12, as_of=panel[TIME_COL].max())

    half_width = np.log1p(fcst["hgb-hi-80"]) - np.log1p(fcst["hgb"])
    assert half_width.min() > 0
    np.testing.assert_allclose(half_width, half_width.iloc[0], rtol=1e-9)
    assert_nested(fcst, "hgb")


def test_policy_columns_stay_as_known_at_as_of(make_panel):
    panel = make_panel(n_series=3, start="2021-01", months=60)  # to 2025-12
    as_of = pd.Timestamp("2025-06-01")
    model = GlobalRegressor(hgb(), alias="hgb", feature_set="history_policy",
                            conformal_origins=0)

    model.forecast(panel, h=H, as_of=as_of)

    fed = model.future_features_.set_index(KEYS).sort_index()
    _, built = build_features(panel, builders="history_policy", h=H, as_of=as_of)
    _, later = build_features(panel, builders="history_policy", h=1,
                              as_of=pd.Timestamp("2025-11-01"))
    pol = [c for c in fed.columns if c.startswith("pol_")]
    assert pol
    expected = built.set_index(KEYS).sort_index()[pol]
    pd.testing.assert_frame_equal(fed[pol], expected, check_dtype=False)
    # rebuilding at a later cutoff would have changed them (the autumn 2025 announcements)
    december = later.set_index(KEYS)[pol].xs(pd.Timestamp("2025-12-01"), level=TIME_COL)
    assert not december.equals(expected.xs(pd.Timestamp("2025-12-01"), level=TIME_COL))


def test_conformal_quantile_is_the_finite_sample_rank():
    errors = np.arange(1.0, 11.0)
    assert conformal_quantile(errors, 80) == 9.0  # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(errors, 95) == 10.0  # rank beyond n -> the largest
    assert np.isnan(conformal_quantile(np.array([]), 80))


def test_no_conformal_errors_gives_nan_intervals_not_invented_ones(make_panel):
    panel = make_panel(n_series=2, months=16)
    fcst = GlobalRegressor(hgb(), alias="hgb", conformal_origins=3).forecast(
        panel, h=4, as_of=panel[TIME_COL].max())  # every inner origin is too early to fit
    assert fcst["hgb"].notna().all()
    assert fcst[["hgb-lo-80", "hgb-hi-95"]].isna().all().all()


def test_zero_origins_use_in_sample_residuals_growing_with_horizon(make_panel):
    panel = make_panel(n_series=2, months=48)
    model = GlobalRegressor(hgb(), alias="hgb", conformal_origins=0)
    fcst = model.forecast(panel, h=4, as_of=panel[TIME_COL].max())
    log_half = np.log1p(fcst["hgb-hi-80"]) - np.log1p(fcst["hgb"])
    steps = fcst.groupby("unique_id").cumcount() + 1
    ratio = (log_half / np.sqrt(steps)).to_numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-6)  # q80 of |residual| x sqrt(h)
    assert ratio[0] == pytest.approx(np.quantile(model.insample_errors_, 0.8), rel=0.2)


def test_bad_inputs_raise(make_panel):
    with pytest.raises(ValueError, match="target must be one of"):
        GlobalRegressor(hgb(), alias="m", target="log").forecast(
            make_panel(months=24), h=2, as_of=AS_OF)
    short = make_panel(months=10)
    with pytest.raises(ValueError, match="no training rows"):
        GlobalRegressor(hgb(), alias="m").forecast(short, h=2, as_of=short[TIME_COL].max())
