"""Folds in parallel processes give the very backtest the sequential loop gives."""

from __future__ import annotations

import pandas as pd
from statsforecast.models import AutoETS, Naive, SeasonalNaive

from forecasting.backtest.run import fold_workers, run_backtest
from forecasting.backtest.splits import rolling_cutoffs
from forecasting.inputs import ModelInput
from forecasting.models.stats import StatsForecaster


def test_fold_workers_use_cutoffs_only_on_panels_too_small_for_statsforecast():
    assert fold_workers(2, n_series=8, n_cutoffs=12) == 2
    assert fold_workers(4, n_series=8, n_cutoffs=3) == 3  # never more processes than folds
    assert fold_workers(1, n_series=8, n_cutoffs=12) == 1
    assert fold_workers(2, n_series=100, n_cutoffs=12) == 1  # statsforecast spreads series


def test_parallel_folds_equal_sequential_folds_on_the_as_known_bundled_panels():
    data = ModelInput(source="bundled", format="bundled",
                      destinations=("US", "DE", "JP", "KR", "VN", "IN"))
    panel = data.panel_at(None)
    cutoffs = rolling_cutoffs(panel, h=2, n_windows=3, step=2)
    forecaster = StatsForecaster([SeasonalNaive(season_length=12), Naive(),
                                  AutoETS(season_length=12)])
    kwargs = dict(h=2, cutoffs=cutoffs, progress=False, history_at=data.panel_at)
    sequential = run_backtest(panel, [forecaster], n_jobs=1, **kwargs)
    parallel = run_backtest(panel, [forecaster], n_jobs=2, **kwargs)
    assert sorted(parallel["cutoff"].unique()) == cutoffs
    pd.testing.assert_frame_equal(parallel, sequential)
    # each fold saw the panel as known at its cutoff: the earliest fold's estimates differ
    # from the final panel's for at least one cell it forecast from
    first = data.panel_at(cutoffs[0]).merge(panel, on=["unique_id", "ds"], suffixes=("", "_f"))
    assert (first["y"] - first["y_f"]).abs().max() > 0


def test_prebuilt_panels_equal_the_panels_built_one_by_one():
    cutoffs = list(pd.date_range("2024-10-01", periods=3, freq="MS"))
    one_by_one = ModelInput(source="bundled", format="bundled", destinations=("US", "DE"))
    prebuilt = ModelInput(source="bundled", format="bundled", destinations=("US", "DE"))
    prebuilt.prebuild(cutoffs, n_jobs=2)
    assert set(prebuilt._cache) == set(cutoffs)
    for cutoff in cutoffs:
        pd.testing.assert_frame_equal(prebuilt.panel_at(cutoff), one_by_one.panel_at(cutoff))
