"""The pooled direct global model and combinations across forecasters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from statsforecast.models import AutoETS, SeasonalNaive

from forecasting.backtest.run import forecast_all
from forecasting.models.combination import CombinedForecaster
from forecasting.models.pooled import PooledDirectRegressor
from forecasting.models.registry import build_forecasters
from forecasting.models.stats import StatsForecaster
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL

AS_OF = pd.Timestamp("2023-12-01")


def trending_panel(n_series: int = 30, months: int = 108, seed: int = 1) -> pd.DataFrame:
    """Series of very different size, each with its own trend and one shared seasonal shape."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2016-01-01", periods=months, freq="MS")
    season = 1 + 0.3 * np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    frames = []
    for i in range(n_series):
        level = 10 ** rng.uniform(1, 4)
        trend = (1 + rng.uniform(-0.01, 0.02)) ** np.arange(months)
        y = level * trend * season * rng.lognormal(0, 0.05, months)
        frames.append(pd.DataFrame({ID_COL: f"s{i}", TIME_COL: ds, TARGET_COL: y}))
    return pd.concat(frames, ignore_index=True)


def model() -> PooledDirectRegressor:
    return PooledDirectRegressor(HistGradientBoostingRegressor(max_iter=100, random_state=0),
                                 alias="Pooled")


def test_pooled_model_learns_shared_seasons_and_trends_across_sizes() -> None:
    panel = trending_panel()
    fc = model().forecast(panel, h=12, as_of=AS_OF)
    actual = panel.merge(fc, on=[ID_COL, TIME_COL])
    assert len(actual) == 30 * 12
    err = np.abs(actual["Pooled"] / actual[TARGET_COL] - 1)
    naive = SeasonalNaive(season_length=12)
    snaive = StatsForecaster([naive], n_jobs=1).forecast(panel, h=12, as_of=AS_OF)
    base = panel.merge(snaive, on=[ID_COL, TIME_COL])
    base_err = np.abs(base["SeasonalNaive"] / base[TARGET_COL] - 1)
    assert err.mean() < 0.08 and err.mean() < 0.7 * base_err.mean()  # trends carried forward


def test_pooled_model_sees_nothing_after_as_of() -> None:
    panel = trending_panel(n_series=8)
    later = panel[TIME_COL] > AS_OF
    shocked = panel.assign(**{TARGET_COL: panel[TARGET_COL].where(~later, 1e6)})
    a = model().forecast(panel, h=6, as_of=AS_OF)
    b = model().forecast(shocked, h=6, as_of=AS_OF)
    pd.testing.assert_frame_equal(a, b)
    earlier = panel[TIME_COL] == AS_OF
    moved = panel.assign(**{TARGET_COL: panel[TARGET_COL].where(~earlier, 1e6)})
    assert not model().forecast(moved, h=6, as_of=AS_OF).equals(a)  # the last month counts


def test_pooled_intervals_are_nested_and_widen_with_the_horizon() -> None:
    fc = model().forecast(trending_panel(n_series=10), h=12, as_of=AS_OF)
    lo95, lo80, hi80, hi95 = (fc[f"Pooled-{s}"] for s in ("lo-95", "lo-80", "hi-80", "hi-95"))
    assert (lo95 <= lo80).all() and (lo80 <= fc["Pooled"]).all()
    assert (fc["Pooled"] <= hi80).all() and (hi80 <= hi95).all()
    rel = (hi80 - lo80) / fc["Pooled"]
    by_h = rel.groupby(fc.groupby(ID_COL).cumcount()).mean()
    assert by_h.iloc[-1] > by_h.iloc[0]


def test_a_combination_across_forecasters_is_the_mean_of_its_members() -> None:
    panel = trending_panel(n_series=6)
    stats = StatsForecaster([AutoETS(season_length=12, alias="AutoETS")], n_jobs=1)
    hybrid = CombinedForecaster(["AutoETS", "Pooled"], alias="Hybrid", method="mean")
    fc = forecast_all([hybrid, stats, model()], panel, h=4, as_of=AS_OF)
    expected = (fc["AutoETS"] + fc["Pooled"]) / 2
    np.testing.assert_allclose(fc["Hybrid"], expected.clip(lower=0), rtol=1e-12)
    assert (fc["Hybrid-lo-80"] <= fc["Hybrid"]).all() and (fc["Hybrid"] <= fc["Hybrid-hi-95"]).all()


def test_a_combination_of_unknown_members_is_refused() -> None:
    cfg = {"baseline": "SeasonalNaive", "forecasters": {
        "stats": {"_target_": "forecasting.models.stats.StatsForecaster", "models": [
            {"_target_": "statsforecast.models.SeasonalNaive", "season_length": 12,
             "alias": "SeasonalNaive"}]},
        "hybrid": {"_target_": "forecasting.models.combination.CombinedForecaster",
                   "alias": "Hybrid", "members": ["SeasonalNaive", "Nope"]}}}
    with pytest.raises(ValueError, match=r"'Hybrid': members \['Nope'\]"):
        build_forecasters(cfg)


def test_series_too_short_for_conformal_windows_get_a_zero_width_band() -> None:
    from statsforecast.models import CrostonOptimized

    panel = trending_panel(n_series=2)
    short = panel[(panel[ID_COL] == "s1") & (panel[TIME_COL] > AS_OF - pd.DateOffset(months=10))]
    panel = pd.concat([panel[panel[ID_COL] == "s0"], short], ignore_index=True)
    stats = StatsForecaster([CrostonOptimized(alias="Croston")], conformal_windows=2, n_jobs=1)
    fc = stats.forecast(panel, h=6, as_of=AS_OF).set_index(ID_COL)
    assert (fc.loc["s0", "Croston-hi-80"] > fc.loc["s0", "Croston"]).all()
    assert (fc.loc["s1", "Croston-hi-95"] == fc.loc["s1", "Croston"]).all()
    assert (fc.loc["s1", "Croston-lo-95"] == fc.loc["s1", "Croston"]).all()


def test_small_panels_run_statsforecast_in_one_process() -> None:
    import os

    from forecasting.models.stats import MIN_SERIES_PER_WORKER, workers

    cores = os.cpu_count() or 1
    assert workers(-1, 8) == 1 and workers(4, 8) == 1
    assert workers(-1, MIN_SERIES_PER_WORKER * cores) == -1
    assert workers(1, 10_000) == 1


def test_capped_training_rows_are_the_seeded_subset_of_all_rows() -> None:
    """max_rows picks rows before building them (memory follows the cap): the same rows, in
    the same order, as building every row and then taking the seeded subset."""
    panel = trending_panel(n_series=12).sort_values([ID_COL, TIME_COL], ignore_index=True)
    full = PooledDirectRegressor(HistGradientBoostingRegressor(), alias="P", max_rows=10**9)
    capped = PooledDirectRegressor(HistGradientBoostingRegressor(), alias="P", max_rows=500)
    x_all, y_all, ids_all, k_all, _ = full._rows(panel, h=6, train=True, exog=None)
    x, y, ids, k, _ = capped._rows(panel, h=6, train=True, exog=None)
    pick = np.sort(np.random.default_rng(0).choice(len(y_all), size=500, replace=False))
    assert len(y_all) > 500 and len(y) == 500
    np.testing.assert_array_equal(x, x_all[pick])
    np.testing.assert_array_equal(y, y_all[pick])
    assert list(ids) == list(ids_all[pick]) and list(k) == list(k_all[pick])
