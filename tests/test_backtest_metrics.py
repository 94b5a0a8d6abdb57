"""Scores against utilsforecast and hand checks; cutoffs; leaderboard skill."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import SeasonalNaive
from utilsforecast import losses
from utilsforecast.evaluation import evaluate

from forecasting.backtest.leaderboard import leaderboard
from forecasting.backtest.metrics import cell_errors, score, seasonal_scale
from forecasting.backtest.run import run_backtest
from forecasting.backtest.splits import rolling_cutoffs
from forecasting.models.stats import StatsForecaster
from forecasting.schema import CUTOFF_COL, DERIVED, ESTIMATED, ID_COL, STATUS_COL, TIME_COL


@pytest.fixture
def backtest(panel: pd.DataFrame) -> pd.DataFrame:
    """A real SeasonalNaive + AutoETS-free backtest: 3 folds of 4 months on the synthetic panel."""
    from statsforecast.models import Naive

    stats = StatsForecaster([SeasonalNaive(season_length=12, alias="SeasonalNaive"),
                             Naive(alias="Naive")])
    cutoffs = rolling_cutoffs(panel, h=4, n_windows=3, step=2)
    return run_backtest(panel, [stats], h=4, cutoffs=cutoffs, progress=False)


def test_cutoffs_end_h_before_the_last_month(panel: pd.DataFrame) -> None:
    cutoffs = rolling_cutoffs(panel, h=3, n_windows=4, step=2)
    last = panel[TIME_COL].max()
    assert cutoffs[-1] == last - pd.DateOffset(months=3)
    assert [c.month for c in cutoffs] == [(cutoffs[0].month + 2 * i - 1) % 12 + 1
                                          for i in range(4)]
    with pytest.raises(ValueError, match="too short"):
        rolling_cutoffs(panel, h=12, n_windows=40)


def test_backtest_frame_shape_and_horizons(backtest: pd.DataFrame, panel: pd.DataFrame) -> None:
    n_series = panel[ID_COL].nunique()
    assert len(backtest) == 3 * 4 * n_series
    assert sorted(backtest["horizon"].unique()) == [1, 2, 3, 4]
    assert (backtest[TIME_COL] > backtest[CUTOFF_COL]).all()
    merged = backtest.merge(panel, on=[ID_COL, TIME_COL], suffixes=("", "_true"))
    np.testing.assert_array_equal(merged["y"], merged["y_true"])


def test_scores_match_utilsforecast(backtest: pd.DataFrame, panel: pd.DataFrame) -> None:
    models = ["SeasonalNaive", "Naive"]
    cutoffs = sorted(backtest[CUTOFF_COL].unique())
    cells = cell_errors(backtest, seasonal_scale(panel, cutoffs), models)
    ours = score(cells, score_on="all").pivot_table(
        index=["model", ID_COL], columns="metric", values="value")
    # utilsforecast, fold by fold (MASE scale from that fold's own history), then averaged
    per_fold = []
    for cutoff in cutoffs:
        fold = backtest.loc[backtest[CUTOFF_COL] == cutoff].drop(columns=[CUTOFF_COL])
        train = panel.loc[panel[TIME_COL] <= cutoff, [ID_COL, TIME_COL, "y"]]
        ev = evaluate(fold.drop(columns=["horizon", STATUS_COL]), metrics=[
            losses.mae, losses.rmse, losses.bias, losses.coverage,
            partial(losses.mase, seasonality=12)], models=models, level=[80, 95],
            train_df=train)
        per_fold.append(ev)
    ev = pd.concat(per_fold)
    for model in models:
        for uid in panel[ID_COL].unique():
            rows = ev.loc[ev[ID_COL] == uid].set_index("metric")[model]
            mae = rows.loc["mae"].mean()
            assert ours.loc[(model, uid), "mae"] == pytest.approx(mae, abs=1e-9)
            assert ours.loc[(model, uid), "bias"] == pytest.approx(rows.loc["bias"].mean(),
                                                                   abs=1e-9)
            assert ours.loc[(model, uid), "mase"] == pytest.approx(rows.loc["mase"].mean(),
                                                                   abs=1e-9)
            assert ours.loc[(model, uid), "coverage_80"] == pytest.approx(
                rows.loc["coverage_level80"].mean(), abs=1e-9)
            rmse_pooled = np.sqrt((rows.loc["rmse"] ** 2).mean())
            assert ours.loc[(model, uid), "rmse"] == pytest.approx(rmse_pooled, abs=1e-9)


def test_hand_checked_tiny_example() -> None:
    bt = pd.DataFrame({ID_COL: "A", TIME_COL: pd.to_datetime(["2024-01-01", "2024-02-01"]),
                       CUTOFF_COL: pd.Timestamp("2023-12-01"), "horizon": [1, 2],
                       "y": [10.0, 20.0], STATUS_COL: "reported", "M": [12.0, 14.0],
                       "M-lo-80": [9.0, 15.0], "M-hi-80": [11.0, 16.0],
                       "M-lo-95": [8.0, 13.0], "M-hi-95": [13.0, 21.0]})
    scale = pd.DataFrame({ID_COL: ["A"], CUTOFF_COL: [pd.Timestamp("2023-12-01")],
                          "scale": [4.0]})
    table = score(cell_errors(bt, scale, ["M"]), score_on="reported").set_index("metric")
    assert table.loc["mae", "value"] == pytest.approx(4.0)        # |2| and |-6|
    assert table.loc["rmse", "value"] == pytest.approx(np.sqrt(20.0))
    assert table.loc["mase", "value"] == pytest.approx(1.0)
    assert table.loc["wape", "value"] == pytest.approx(8.0 / 30.0)
    assert table.loc["bias", "value"] == pytest.approx(-2.0)
    assert table.loc["coverage_80", "value"] == pytest.approx(0.5)
    assert table.loc["coverage_95", "value"] == pytest.approx(1.0)
    assert (table["n_scored"] == 2).all()


def test_only_reported_cells_are_scored(backtest: pd.DataFrame, panel: pd.DataFrame) -> None:
    cutoffs = sorted(backtest[CUTOFF_COL].unique())
    est = backtest.copy()
    est.loc[est["horizon"] == 1, STATUS_COL] = ESTIMATED
    est.loc[est["horizon"] == 1, "y"] = 1e9  # garbage truth must not count
    cells = cell_errors(est, seasonal_scale(panel, cutoffs), ["SeasonalNaive"])
    reported = score(cells).query("metric == 'mae'")
    assert (reported["n_scored"] == 3 * 3).all()
    assert reported["value"].max() < 1e6


def test_leaderboard_skill_against_baseline(backtest: pd.DataFrame, panel: pd.DataFrame) -> None:
    cutoffs = sorted(backtest[CUTOFF_COL].unique())
    cells = cell_errors(backtest, seasonal_scale(panel, cutoffs), ["SeasonalNaive", "Naive"])
    board = leaderboard(cells, baseline="SeasonalNaive").set_index("model")
    assert board.loc["SeasonalNaive", "skill"] == pytest.approx(0.0)
    expected = 1 - board.loc["Naive", "mase"] / board.loc["SeasonalNaive", "mase"]
    assert board.loc["Naive", "skill"] == pytest.approx(expected)
    assert list(board["rank"]) == [1, 2]
    assert board["mase"].is_monotonic_increasing


def test_mase_of_a_series_that_never_moved_is_undefined_not_huge() -> None:
    ds = pd.date_range("2020-01-01", periods=30, freq="MS")
    panel = pd.DataFrame({ID_COL: "Z", TIME_COL: ds, "y": 0.0, STATUS_COL: "reported"})
    scale = seasonal_scale(panel, [ds[-2]])
    assert np.isnan(scale["scale"].item())
    bt = pd.DataFrame({ID_COL: "Z", TIME_COL: [ds[-1]], CUTOFF_COL: [ds[-2]], "horizon": 1,
                       "y": 0.0, STATUS_COL: "reported", "M": 0.01, "M-lo-80": 0.0,
                       "M-hi-80": 0.1, "M-lo-95": 0.0, "M-hi-95": 0.2})
    table = score(cell_errors(bt, scale, ["M"])).set_index("metric")["value"]
    assert np.isnan(table["mase"]) and table["mae"] == pytest.approx(0.01)


def test_smape_msis_and_scaled_crps_match_utilsforecast(backtest: pd.DataFrame,
                                                       panel: pd.DataFrame) -> None:
    models = ["SeasonalNaive", "Naive"]
    cutoff = sorted(backtest[CUTOFF_COL].unique())[-1]
    fold = backtest.loc[backtest[CUTOFF_COL] == cutoff].copy()
    fold.loc[fold.index[:2], ["y", "Naive"]] = 0.0  # sMAPE of 0 vs 0 is 0
    scale = seasonal_scale(panel, [cutoff])
    ours = score(cell_errors(fold, scale, models), score_on="all").pivot_table(
        index=["model", ID_COL], columns="metric", values="value")
    uf = fold.drop(columns=[CUTOFF_COL, "horizon", STATUS_COL])
    smape = losses.smape(uf, models=models).set_index(ID_COL)
    quantiles = np.array([0.025, 0.1, 0.5, 0.9, 0.975])
    crps = losses.scaled_crps(uf, models={m: [f"{m}-lo-95", f"{m}-lo-80", m, f"{m}-hi-80",
                                              f"{m}-hi-95"] for m in models},
                              quantiles=quantiles).set_index(ID_COL)
    by_id = scale.set_index(ID_COL)["scale"]
    for lv in (80, 95):
        winkler = losses.winkler_score(uf, models=models, level=lv).set_index(ID_COL)
        for m in models:
            np.testing.assert_allclose(ours.xs(m)[f"msis_{lv}"], winkler[m] / by_id.loc[
                winkler.index], rtol=0, atol=1e-9)
    for m in models:
        np.testing.assert_allclose(ours.xs(m)["smape"], 200 * smape[m], rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.xs(m)["scaled_crps"], crps[m], rtol=0, atol=1e-9)


def test_msis_and_smape_by_hand() -> None:
    bt = pd.DataFrame({ID_COL: "A", TIME_COL: pd.to_datetime(["2024-01-01", "2024-02-01"]),
                       CUTOFF_COL: pd.Timestamp("2023-12-01"), "horizon": [1, 2],
                       "y": [10.0, 0.0], STATUS_COL: "reported", "M": [12.0, 0.0],
                       "M-lo-80": [11.0, 0.0], "M-hi-80": [13.0, 0.0],
                       "M-lo-95": [8.0, 0.0], "M-hi-95": [16.0, 1.0]})
    scale = pd.DataFrame({ID_COL: ["A"], CUTOFF_COL: [pd.Timestamp("2023-12-01")],
                          "scale": [2.0]})
    table = score(cell_errors(bt, scale, ["M"])).set_index("metric")["value"]
    assert table["smape"] == pytest.approx((200 * 2 / 22 + 0) / 2)
    # 80%: width 2 + 2/0.2 x (11 - 10) = 12, then 0; 95%: width 8, then width 1
    assert table["msis_80"] == pytest.approx((12 / 2 + 0) / 2)
    assert table["msis_95"] == pytest.approx((8 / 2 + 1 / 2) / 2)


def test_score_on_scopes_count_derived_cells_only_when_asked(backtest: pd.DataFrame,
                                                            panel: pd.DataFrame) -> None:
    cutoffs = sorted(backtest[CUTOFF_COL].unique())
    bt = backtest.copy()
    bt.loc[bt["horizon"] == 1, STATUS_COL] = DERIVED
    bt.loc[bt["horizon"] == 2, STATUS_COL] = ESTIMATED
    cells = cell_errors(bt, seasonal_scale(panel, cutoffs), ["SeasonalNaive"])
    n = {s: score(cells, score_on=s).query("metric == 'mae'")["n_scored"].sum()
         for s in ("reported", "reported_derived", "all")}
    per_h = len(bt) // 4
    assert n == {"reported": 2 * per_h, "reported_derived": 3 * per_h, "all": 4 * per_h}
    board = leaderboard(cells, baseline="SeasonalNaive", score_on="reported")
    assert board["score_on"].tolist() == ["reported"] and board["n_scored"].item() == 2 * per_h
    with pytest.raises(ValueError, match="score_on 'some' not in"):
        score(cells, score_on="some")
