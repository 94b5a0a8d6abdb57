"""Diagnostic PNGs: valid files, clear refusals, and estimated history drawn apart from reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from forecasting.plots import (
    AHEAD_GID,
    CLIPPED_GID,
    ESTIMATED_GID,
    FOLD_GID,
    REPORTED_GID,
    _figure_backtest,
    _figure_fan,
    _figure_mase_by_horizon,
    _figure_scenarios,
    coincidence_note,
    fan_limits,
    plot_backtest,
    plot_fan,
    plot_mase_by_horizon,
    plot_scenarios,
)
from forecasting.reconcile import FORECAST_COL
from forecasting.schema import (
    CUTOFF_COL,
    ESTIMATED,
    ID_COL,
    OTHER,
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
    bt = make_backtest(history)
    fig = _figure_backtest(bt, history, models=MODELS)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    last12 = history.loc[(history[TIME_COL] > history[TIME_COL].max() - pd.DateOffset(months=12))
                         & (history[ID_COL] != WORLD)]
    by_size = last12.groupby(ID_COL)[TARGET_COL].sum().sort_values(ascending=False).index
    assert [ax.get_title(loc="left") for ax in axes] == [WORLD, *by_size]  # largest first
    assert set(by_size) == {"DE", "IN", "JP", "KR", "US"}
    reported, estimated = _by_gid(fig, REPORTED_GID), _by_gid(fig, ESTIMATED_GID)
    assert len(reported) == len(estimated) == len(axes)
    # the backtest shows the year before its first cutoff, within the last 36 months
    start = max(history[TIME_COL].max() - pd.DateOffset(months=36),
                bt[CUTOFF_COL].min() - pd.DateOffset(months=12))
    recent = history.loc[history[TIME_COL] > start]
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


def _lines(ax, gid_prefix: str) -> list:
    """The lines of `ax` whose gid starts with `gid_prefix`."""
    return [line for line in ax.get_lines() if (line.get_gid() or "").startswith(gid_prefix)]


def test_backtest_shows_the_published_choice_folds_faint_and_one_line_ahead(
        history: pd.DataFrame) -> None:
    bt = make_backtest(history, n_folds=4)
    published, baseline = MODELS[1], MODELS[0]
    bt[lo_col(published, 80)], bt[hi_col(published, 80)] = bt[published] - 5, bt[published] + 5
    fig = _figure_backtest(bt, history, models=[baseline], published=published)
    first = fig.axes[0]
    assert first.get_title(loc="left") == WORLD
    folds = _lines(first, FOLD_GID)
    assert len(folds) == 4  # the published choice's folds only, not the baseline's
    assert all(line.get_alpha() < 0.5 for line in folds)  # faint
    cutoff = bt[CUTOFF_COL].min()
    assert folds[0].get_xdata()[0] == np.datetime64(cutoff, "ns")  # starts at its cutoff
    assert len(folds[0].get_xdata()) == H + 1
    one_ahead = bt.loc[(bt[ID_COL] == WORLD)
                       & (bt[TIME_COL] == bt[CUTOFF_COL] + pd.DateOffset(months=1))]
    for model in MODELS:
        (line,) = _lines(first, AHEAD_GID + model)
        np.testing.assert_array_equal(line.get_xdata(), one_ahead[TIME_COL].to_numpy())
        np.testing.assert_allclose(line.get_ydata(), one_ahead[model].to_numpy())
    (thick,), (thin,) = _lines(first, AHEAD_GID + published), _lines(first, AHEAD_GID + baseline)
    assert thick.get_linewidth() > thin.get_linewidth() and thin.get_linestyle() == "--"
    assert sum(isinstance(c, PolyCollection) for c in first.collections) == 1  # its 80% band
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"{published} (published): forecast made 1 month earlier" in labels
    assert f"{baseline}: forecast made 1 month earlier" in labels
    assert f"{published}: each fold from its cutoff (faint)" in labels
    assert {"reported", "estimated (dashed)"} <= set(labels)
    assert f"published choice {published}" in fig.get_suptitle()
    assert first.get_ylabel() == "tonnes"


def test_backtest_line_ahead_follows_the_horizon_asked(history: pd.DataFrame) -> None:
    bt = make_backtest(history, n_folds=4)
    fig = _figure_backtest(bt, history, models=MODELS, horizon=H)
    (line,) = _lines(fig.axes[0], AHEAD_GID + MODELS[0])
    made = bt.loc[(bt[ID_COL] == WORLD) & (bt[TIME_COL] == bt[CUTOFF_COL] + pd.DateOffset(
        months=H)), TIME_COL].to_numpy()
    np.testing.assert_array_equal(line.get_xdata(), made)
    assert f"forecast made {H} months earlier" in line.get_label()
    with pytest.raises(ValueError, match="no forecast 7 month"):
        _figure_backtest(bt, history, models=MODELS, horizon=7)


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


def test_mase_identical_models_share_one_line_and_the_published_stands_out() -> None:
    twins = make_by_horizon()
    twins = pd.concat([twins, twins.loc[twins["model"] == "Naive"].assign(model="ADIDA"),
                       twins.loc[twins["model"] == "Naive"].assign(model="IMAPA")])
    ax = _figure_mase_by_horizon(twins, baseline="SeasonalNaive", published="AutoETS").axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
    assert set(lines) == {"ADIDA = IMAPA = Naive", "AutoETS (published)",
                          "SeasonalNaive (baseline)"}
    np.testing.assert_allclose(lines["ADIDA = IMAPA = Naive"].get_ydata(), [0.8, 0.9, 1.3])
    assert lines["AutoETS (published)"].get_linewidth() > lines[
        "ADIDA = IMAPA = Naive"].get_linewidth()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "SeasonalNaive (baseline)"  # the reference closes the legend
    with pytest.raises(ValueError, match="published choice 'Drift' not among the models"):
        _figure_mase_by_horizon(twins, baseline="SeasonalNaive", published="Drift")


def test_fan_includes_other_and_fits_history_and_the_80_band(history: pd.DataFrame) -> None:
    history = history.replace({ID_COL: {"IN": OTHER}})
    fc = make_forecast(history)
    fc[hi_col(FORECAST_COL, 95)] = fc[FORECAST_COL] * 4  # a 95% band far above everything
    fig = _figure_fan(fc, history, scenario="status_quo", top=4)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title(loc="left").split(" (")[0] for ax in axes]
    assert titles[0] == WORLD and titles[-1] == OTHER and len(titles) == 4
    recent = history.loc[history[TIME_COL] > history[TIME_COL].max() - pd.DateOffset(months=36)]
    for ax, uid in zip(axes, titles, strict=True):
        f = fc.loc[fc[ID_COL] == uid]
        low, high = fan_limits(recent.loc[recent[ID_COL] == uid, TARGET_COL].to_numpy(),
                               f[lo_col(FORECAST_COL, 80)].to_numpy(),
                               f[hi_col(FORECAST_COL, 80)].to_numpy())
        assert ax.get_ylim() == pytest.approx((low, high))
        assert high < f[hi_col(FORECAST_COL, 95)].max()  # the 95% band does not set the range
        marks = _lines(ax, CLIPPED_GID)
        above = f.loc[f[hi_col(FORECAST_COL, 95)] > high, TIME_COL].to_numpy()
        assert len(above) and marks[0].get_marker() == "^"
        np.testing.assert_array_equal(marks[0].get_xdata(), above)  # a triangle per month
        assert ax.get_ylabel() == ("tonnes" if uid == WORLD else "")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels.count("95% interval runs off the chart") == 1
    assert {"80% interval", "95% interval", "forecast", "reported"} <= set(labels)


def test_fan_limits_span_history_and_80_band_only() -> None:
    low, high = fan_limits(np.array([10.0, 20.0]), np.array([5.0, np.nan]),
                           np.array([30.0, 40.0]))
    assert (low, high) == pytest.approx((5 - 1.75, 40 + 1.75))


def _tick_labels_overlap(fig: Figure) -> bool:
    """Whether two x tick labels of a visible panel overlap once the figure is drawn."""
    fig.canvas.draw()  # a Figure without pyplot gets an Agg canvas on savefig; FigureCanvasBase
    for ax in fig.axes:
        boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
        if any(a.overlaps(b) for a, b in zip(boxes, boxes[1:], strict=False)):
            return True
    return False


def test_scenarios_stay_distinguishable_where_they_coincide(history: pd.DataFrame) -> None:
    base = make_forecast(history, h=6)
    later = base[TIME_COL] > base[TIME_COL].min() + pd.DateOffset(months=2)
    forecasts = {"status_quo": base, "easing": base.copy(),
                 "controls": base.assign(**{FORECAST_COL: np.where(
                     later, base[FORECAST_COL] * 0.5, base[FORECAST_COL])})}
    fig = _figure_scenarios(forecasts, history=history, top=3)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert axes[0].get_title(loc="left") == WORLD and len(axes) == 3
    drawn = [line for line in axes[0].get_lines() if line.get_gid() is None]
    assert [line.get_label() for line in drawn] == ["controls", "easing", "status_quo"]
    assert len({(line.get_linestyle(), line.get_marker()) for line in drawn}) == 3
    widths = [line.get_linewidth() for line in drawn]
    assert widths == sorted(widths, reverse=True)  # the first drawn is widest: it shows under
    until = f"{base[TIME_COL].min() + pd.DateOffset(months=2):%Y-%m}"
    assert axes[0].get_title(loc="right") == (
        f"coincide: easing = status_quo; controls = easing until {until}")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"controls", "easing", "status_quo", "reported"} <= set(labels)
    assert type(axes[0].xaxis.get_major_formatter()).__name__ == "ConciseDateFormatter"
    assert not _tick_labels_overlap(fig)


def test_coincidence_note_is_empty_when_scenarios_differ_from_the_start() -> None:
    ds = pd.date_range("2026-01-01", periods=3, freq="MS")
    assert coincidence_note({"a": pd.Series([1.0, 2, 3], ds),
                             "b": pd.Series([2.0, 2, 3], ds)}) == ""
    assert coincidence_note({"a": pd.Series([1.0, 2, 3], ds),
                             "b": pd.Series([1.0, 2, 4], ds)}) == "a = b until 2026-02"


def test_plot_scenarios_and_fan_write_pngs_with_readable_dates(history: pd.DataFrame,
                                                               tmp_path: Path) -> None:
    fc = make_forecast(history)
    path = plot_scenarios({"a": fc, "b": fc}, history=history, path=tmp_path / "s.png", top=3)
    assert_png(path)
    assert not _tick_labels_overlap(_figure_fan(fc, history, scenario="a", top=8))
