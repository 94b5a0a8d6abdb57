"""Combination models: median/mean of members, ordered intervals, own alias, usable downstream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoETS, DynamicOptimizedTheta, Naive, SeasonalNaive

from forecasting.models.combination import combine
from forecasting.models.routing import model_columns, route
from forecasting.models.stats import StatsForecaster
from forecasting.schema import ID_COL, LEVELS, TIME_COL, hi_col, lo_col

AS_OF = pd.Timestamp("2023-06-01")
MEMBERS = ["SeasonalNaive", "AutoETS", "DOT"]


@pytest.fixture(scope="module")
def combo_fcst() -> tuple[StatsForecaster, pd.DataFrame]:
    """A real statsforecast fit with a median and a mean combination of three members."""
    from tests.conftest import build_panel

    forecaster = StatsForecaster(
        [SeasonalNaive(12, alias="SeasonalNaive"), Naive(alias="Naive"),
         AutoETS(season_length=12, alias="AutoETS"),
         DynamicOptimizedTheta(season_length=12, alias="DOT")],
        combinations={"Combo": {"members": MEMBERS, "method": "median"},
                      "ComboMean": {"members": MEMBERS, "method": "mean"}}, n_jobs=1)
    return forecaster, forecaster.forecast(build_panel(n_series=3, months=60), h=6, as_of=AS_OF)


def test_combination_is_the_median_or_mean_of_its_members(combo_fcst):
    forecaster, fcst = combo_fcst
    assert forecaster.aliases == ["SeasonalNaive", "Naive", "AutoETS", "DOT", "Combo",
                                  "ComboMean"]
    by_member = [model_columns(m) for m in MEMBERS]
    for i, column in enumerate(model_columns("Combo")):
        members = [cols[i] for cols in by_member]
        np.testing.assert_allclose(fcst[column], np.median(fcst[members], axis=1))
    np.testing.assert_allclose(fcst["ComboMean"], fcst[MEMBERS].mean(axis=1))
    # the median is a member's value row by row, the mean (here) mostly is not
    assert (np.isclose(fcst[MEMBERS].to_numpy(), fcst[["Combo"]].to_numpy())).any(axis=1).all()
    assert not np.allclose(fcst["Combo"], fcst["ComboMean"])


def test_combination_intervals_are_nested(combo_fcst):
    _, fcst = combo_fcst
    for alias in ("Combo", "ComboMean"):
        cols = [lo_col(alias, 95), lo_col(alias, 80), alias, hi_col(alias, 80), hi_col(alias, 95)]
        values = fcst[cols].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all()
        assert (np.diff(values, axis=1) >= 0).all()
        assert (fcst[hi_col(alias, 80)] > fcst[lo_col(alias, 80)]).all()


def test_combined_bounds_are_reordered_when_members_disagree():
    frame = pd.DataFrame({ID_COL: ["A"], TIME_COL: [AS_OF]})
    for alias, point, half in [("m1", 10.0, 1.0), ("m2", 12.0, 8.0), ("m3", 30.0, 0.5)]:
        frame[alias] = point
        for lv, k in zip(LEVELS, (1.0, 2.0), strict=True):
            frame[lo_col(alias, lv)] = point - k * half
            frame[hi_col(alias, lv)] = point + k * half
    frame[lo_col("m3", 95)] = np.nan  # one member without this bound: the others decide
    out = combine(frame, ["m1", "m2", "m3"], alias="c", method="mean")
    assert out["c"].iloc[0] == pytest.approx(52 / 3)
    assert out[lo_col("c", 95)].iloc[0] == pytest.approx((8.0 - 4.0) / 2)
    # mean of the members' hi-80 (11, 20, 30.5) = 20.5 >= point: kept; lo-80 below the point
    assert out[lo_col("c", 95)].iloc[0] <= out[lo_col("c", 80)].iloc[0] <= out["c"].iloc[0]


def test_combination_is_a_model_routing_and_ensembles_can_pick(combo_fcst):
    _, fcst = combo_fcst
    classes = pd.DataFrame({ID_COL: fcst[ID_COL].unique(), "demand_class": "smooth"})
    routed = route(fcst, classes, smooth="Combo", intermittent="Naive")
    np.testing.assert_array_equal(routed["Routed"], fcst["Combo"])
    np.testing.assert_array_equal(routed[hi_col("Routed", 95)], fcst[hi_col("Combo", 95)])


@pytest.mark.parametrize(("spec", "message"), [
    ({"members": ["AutoETS", "Theta"]}, "unknown: \\['Theta'\\]"),
    ({"members": ["AutoETS"]}, "two or more members"),
    ({"members": ["AutoETS", "Naive"], "method": "mode"}, "method must be one of"),
])
def test_bad_combinations_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        StatsForecaster([AutoETS(alias="AutoETS"), Naive(alias="Naive")],
                        combinations={"C": spec})


def test_combination_is_backtested_and_joins_champion_and_ensemble():
    from forecasting.backtest.run import run_backtest
    from forecasting.backtest.selection import (
        SelectionRule,
        add_champion_and_ensemble,
        choice_at_cutoffs,
    )
    from tests.conftest import build_panel

    panel = build_panel(n_series=2, months=48, seed=2)
    forecaster = StatsForecaster([SeasonalNaive(12, alias="SeasonalNaive"), Naive(alias="Naive")],
                                 combinations={"Mix": {"members": ["SeasonalNaive", "Naive"],
                                                       "method": "mean"}}, n_jobs=1)
    cutoffs = pd.date_range("2021-06-01", periods=6, freq="MS")
    bt = run_backtest(panel, [forecaster], h=2, cutoffs=cutoffs, progress=False)
    np.testing.assert_allclose(bt["Mix"], bt[["SeasonalNaive", "Naive"]].mean(axis=1))

    models = forecaster.aliases
    choice = choice_at_cutoffs(bt, models=models, rule=SelectionRule(top_k=3))
    assert choice["ranked"].map(lambda r: "Mix" in r).all()  # all three rank, Mix among them
    out = add_champion_and_ensemble(bt, choice, models=models)
    chosen = out.dropna(subset=["Ensemble"])
    assert not chosen.empty
    np.testing.assert_allclose(
        chosen["Ensemble"], chosen[["SeasonalNaive", "Naive", "Mix"]].median(axis=1))
