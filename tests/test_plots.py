"""Diagnostic PNGs: valid files, clear refusals, and estimated history drawn apart from reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from forecasting.plots import (
    ESTIMATED_GID,
    REPORTED_GID,
    _figure_backtest,
    _figure_fan,
    _figure_mase_by_horizon,
    plot_backtest,
    plot_fan,
    plot_mase_by_horizon,
)
from forecasting.reconcile import FORECAST_COL
from forecasting.schema import (
    CUTOFF_COL,
    ESTIMATED,
    ID_COL,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    hi_col,
    lo_col,
)
from tests.conftest import build_panel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MODELS = ("SeasonalNaive", "Naive")
H = 3


@pytest.fixture(name="history")
def history_fixture() -> pd.DataFrame:
    """5 destinations + WORLD, 60 months, about 40% of cells estimated."""
    return build_panel(n_series=5, months=60, estimated_frac=0.4, seed=3)


def make_backtest(history: pd.DataFrame, n_folds: int = 4) -> pd.DataFrame:
    """A backtest frame: per series and fold, H months of two fake models' forecasts."""
    months = sorted(history[TIME_COL].unique())
    cutoffs = months[-H - n_folds:-H]
    rows = []
    for cutoff in cutoffs:
        fold = history.loc[(history[TIME_COL] > cutoff)
                           & (history[TIME_COL] <= cutoff + pd.DateOffset(months=H))]
        rows.append(fold.assign(**{CUTOFF_COL: cutoff, MODELS[0]: fold[TARGET_COL] * 1.1,
                                   MODELS[1]: fold[TARGET_COL] * 0.9}))
    return pd.concat(rows, ignore_index=True)


def make_forecast(history: pd.DataFrame, h: int = 6) -> pd.DataFrame:
    """The internal forecast frame: flat last value with symmetric nested bands."""
    last = history.loc[history[TIME_COL] == history[TIME_COL].max()]
    ds = pd.date_range(history[TIME_COL].max() + pd.DateOffset(months=1), periods=h, freq="MS")
    out = last[[ID_COL, TARGET_COL]].merge(pd.DataFrame({TIME_COL: ds}), how="cross")
    out = out.rename(columns={TARGET_COL: FORECAST_COL}).assign(model="SeasonalNaive")
    for level, width in ((80, 0.2), (95, 0.35)):
        out[lo_col(FORECAST_COL, level)] = out[FORECAST_COL] * (1 - width)
        out[hi_col(FORECAST_COL, level)] = out[FORECAST_COL] * (1 + width)
    return out


def make_by_horizon() -> pd.DataFrame:
    """model, horizon, mase for three models over three horizons."""
    return pd.DataFrame({"model": np.repeat(["SeasonalNaive", "Naive", "AutoETS"], H),
                         "horizon": np.tile(np.arange(1, H + 1), 3),
                         "mase": [1.0, 1.1, 1.2, 0.8, 0.9, 1.3, 0.7, 1.0, 1.1],
                         "n_scored": 10})


def assert_png(path: Path) -> None:
    """`path` is a real PNG over 10 kB, and no temporary file was left beside it."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_plot_backtest_writes_png(history: pd.DataFrame, tmp_path: Path) -> None:
    path = plot_backtest(make_backtest(history), history, models=MODELS,
                         path=tmp_path / "plots" / "backtest.png")
    assert path == tmp_path / "plots" / "backtest.png"
    assert_png(path)


def test_plot_mase_by_horizon_writes_png(tmp_path: Path) -> None:
    path = plot_mase_by_horizon(make_by_horizon(), path=tmp_path / "mase.png",
                                baseline="SeasonalNaive")
    assert_png(path)


def test_plot_fan_writes_png(history: pd.DataFrame, tmp_path: Path) -> None:
    path = plot_fan(make_forecast(history), history, path=tmp_path / "fan.png",
                    scenario="status_quo")
    assert_png(path)


@pytest.mark.parametrize("which", ["backtest", "history", "by_horizon", "forecast"])
def test_empty_frames_are_refused(which: str, history: pd.DataFrame, tmp_path: Path) -> None:
    frames = {"backtest": make_backtest(history), "history": history,
              "by_horizon": make_by_horizon(), "forecast": make_forecast(history)}
    frames[which] = frames[which].iloc[0:0]
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=f"^{which} frame is empty"):
        if which in ("backtest", "history"):
            plot_backtest(frames["backtest"], frames["history"], models=MODELS, path=path)
        elif which == "by_horizon":
            plot_mase_by_horizon(frames["by_horizon"], path=path, baseline="SeasonalNaive")
        else:
            plot_fan(frames["forecast"], frames["history"], path=path, scenario="s")
    assert not path.exists()


def _by_gid(fig: Figure, gid: str) -> list:
    """Every line of `fig` carrying `gid`, panel by panel."""
    return [line for ax in fig.axes for line in ax.get_lines() if line.get_gid() == gid]


def test_estimated_and_reported_history_are_different_artists(history: pd.DataFrame) -> None:
    fig = _figure_backtest(make_backtest(history), history, models=MODELS)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    last12 = history.loc[(history[TIME_COL] > history[TIME_COL].max() - pd.DateOffset(months=12))
                         & (history[ID_COL] != WORLD)]
    by_size = last12.groupby(ID_COL)[TARGET_COL].sum().sort_values(ascending=False).index
    assert [ax.get_title(loc="left") for ax in axes] == [WORLD, *by_size]  # largest first
    assert set(by_size) == {"DE", "IN", "JP", "KR", "US"}
    reported, estimated = _by_gid(fig, REPORTED_GID), _by_gid(fig, ESTIMATED_GID)
    assert len(reported) == len(estimated) == len(axes)
    recent = history.loc[history[TIME_COL] > history[TIME_COL].max() - pd.DateOffset(months=36)]
    for ax, dots, dashes in zip(axes, reported, estimated, strict=True):
        series = recent.loc[recent[ID_COL] == ax.get_title(loc="left")]
        rep = series.loc[series[STATUS_COL] == REPORTED, TIME_COL].to_numpy()
        est = series.loc[series[STATUS_COL] == ESTIMATED, TIME_COL].to_numpy()
        assert dots.get_marker() == "o" and dots.get_linestyle() == "None"
        np.testing.assert_array_equal(dots.get_xdata(), rep)  # dots: reported months only
        assert dashes.get_linestyle() == "--" and dashes.get_marker() == "None"
        drawn = dashes.get_xdata()[~np.isnan(dashes.get_ydata())]
        assert set(est) <= set(drawn)
        # a reported month lies on the dashed line only as the neighbour of an estimate
        assert set(drawn) - set(est) <= set(rep)


def test_backtest_draws_one_line_per_fold_and_model(history: pd.DataFrame) -> None:
    bt = make_backtest(history, n_folds=4)
    fig = _figure_backtest(bt, history, models=MODELS)
    first = fig.axes[0]
    folds = [line for line in first.get_lines() if line.get_gid() is None]
    assert len(folds) == 4 * len(MODELS)
    cutoff = bt[CUTOFF_COL].min()
    assert folds[0].get_xdata()[0] == np.datetime64(cutoff, "ns")  # starts at its cutoff
    assert len(folds[0].get_xdata()) == H + 1
    assert "scored on reported months only" in fig.get_suptitle()


def test_backtest_refuses_too_many_or_unknown_models(history: pd.DataFrame) -> None:
    bt = make_backtest(history).assign(A=1.0, B=1.0)
    with pytest.raises(ValueError, match="plot 1 to 3 models"):
        _figure_backtest(bt, history, models=[*MODELS, "A", "B"])
    with pytest.raises(ValueError, match=r"backtest frame lacks column\(s\) \['Nope'\]"):
        _figure_backtest(bt, history, models=["Nope"])


def test_mase_baseline_is_thick_and_dashed() -> None:
    ax = _figure_mase_by_horizon(make_by_horizon(), baseline="SeasonalNaive").axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    base = lines["SeasonalNaive (baseline)"]
    assert base.get_linestyle() == "--"
    assert base.get_linewidth() > lines["Naive"].get_linewidth()
    np.testing.assert_allclose(lines["AutoETS"].get_ydata(), [0.7, 1.0, 1.1])
    with pytest.raises(ValueError, match="baseline 'Drift' not among the models"):
        _figure_mase_by_horizon(make_by_horizon(), baseline="Drift")


def test_fan_panels_are_world_then_top_destinations(history: pd.DataFrame) -> None:
    fig = _figure_fan(make_forecast(history), history, scenario="status_quo", top=3)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    last12 = history.loc[(history[TIME_COL] > history[TIME_COL].max() - pd.DateOffset(months=12))
                         & (history[ID_COL] != WORLD)]
    top2 = last12.groupby(ID_COL)[TARGET_COL].sum().nlargest(2).index
    assert [ax.get_title(loc="left") for ax in axes] == [
        f"{uid} (SeasonalNaive)" for uid in [WORLD, *top2]]
    for ax in axes:
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # 80% and 95%
    assert "status_quo" in fig.get_suptitle()
    assert len(_by_gid(fig, REPORTED_GID)) == len(_by_gid(fig, ESTIMATED_GID)) == 3


def test_reported_derived_and_estimated_history_are_three_different_artists() -> None:
    from matplotlib.colors import to_rgba

    from forecasting.plots import DERIVED_GID, draw_history

    ds = pd.date_range("2024-01-01", periods=8, freq="MS")
    status = ["reported", "estimated", "derived", "derived", "estimated", "estimated",
              "reported", "derived"]
    series = pd.DataFrame({ID_COL: WORLD, TIME_COL: ds, TARGET_COL: np.arange(8.0) + 1,
                           STATUS_COL: status})
    ax = Figure().subplots()
    draw_history(ax, series.sample(frac=1, random_state=0), label=True)
    rep, der, est = (_by_gid(ax.figure, gid)[0]
                     for gid in (REPORTED_GID, DERIVED_GID, ESTIMATED_GID))
    np.testing.assert_array_equal(rep.get_xdata(), ds[[0, 6]])
    np.testing.assert_array_equal(der.get_xdata(), ds[[2, 3, 7]])
    assert to_rgba(rep.get_markerfacecolor()) == to_rgba("black")  # filled dots
    assert to_rgba(der.get_markerfacecolor()) == to_rgba("white")  # open circles
    assert der.get_linestyle() == rep.get_linestyle() == "None"
    assert est.get_linestyle() == "--" and est.get_marker() == "None"
    drawn = ds[~np.isnan(est.get_ydata())]
    # the dashed line covers the estimated months and their known neighbours only
    np.testing.assert_array_equal(drawn, ds[[0, 1, 2, 3, 4, 5, 6]])
    assert [h.get_label() for h in ax.get_legend_handles_labels()[0]] == [
        "estimated (dashed)", "reported", "derived (open)"]


def test_a_panel_of_many_series_draws_the_largest_twelve() -> None:
    from forecasting.plots import MAX_PANELS, shown_series

    many = build_panel(n_series=40, months=36, seed=4)
    many = many.loc[many[ID_COL] != WORLD]  # a long panel: no hierarchy
    expected = many.loc[many[TIME_COL] > many[TIME_COL].max() - pd.DateOffset(months=12)]
    expected = expected.groupby(ID_COL)[TARGET_COL].sum().nlargest(MAX_PANELS).index
    assert shown_series(many, set(many[ID_COL])) == list(expected)
    fig = _figure_fan(make_forecast(many), many, scenario="none", top=MAX_PANELS)
    titles = [ax.get_title(loc="left").split(" (")[0] for ax in fig.axes if ax.get_visible()]
    assert titles == list(expected)
    assert len(_by_gid(fig, REPORTED_GID)) >= 1  # the legend entry sits on the first panel
