"""Diagnostic PNGs: backtest folds per series, MASE by horizon, fan charts of a scenario.

Every chart draws history the same honest way: reported months as dots, derived months
(computed from a reported figure and a reported percentage) as open circles, estimated months
as a thin dashed line (never as dots), so an estimate cannot pass for a reported figure. Figures are
built with `matplotlib.figure.Figure` (no pyplot state) and written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from forecasting.atomic import write_bytes_atomic
from forecasting.reconcile import FORECAST_COL
from forecasting.schema import (
    CUTOFF_COL,
    DERIVED,
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

HISTORY_MONTHS = 36
MAX_BACKTEST_MODELS = 3
MAX_PANELS = 12  # series drawn per figure: WORLD, the largest others, OTHER
REPORTED_GID, ESTIMATED_GID = "history-reported", "history-estimated"
DERIVED_GID = "history-derived"
_HISTORY_COLOR = "black"


def _require(df: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise a clear ValueError when `df` is empty or lacks any of `columns`."""
    if df.empty:
        raise ValueError(f"{name} frame is empty: nothing to plot")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} frame lacks column(s) {missing}")


def _save(fig: Figure, path: str | Path) -> Path:
    """Render `fig` to PNG bytes and write them atomically to `path`."""
    buf = BytesIO()
    fig.savefig(buf, format="png")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(target, buf.getvalue())


def recent_history(history: pd.DataFrame, *, months: int = HISTORY_MONTHS) -> pd.DataFrame:
    """The last `months` months of a panel (relative to its latest month), ds as datetimes."""
    hist = history.assign(**{TIME_COL: pd.to_datetime(history[TIME_COL])})
    start = hist[TIME_COL].max() - pd.DateOffset(months=months)
    return hist.loc[hist[TIME_COL] > start].sort_values([ID_COL, TIME_COL], ignore_index=True)


def draw_history(ax: Axes, series: pd.DataFrame, *, label: bool = False) -> None:
    """Draw one series: reported months as dots, derived months as open circles, estimated
    months as a thin dashed line.

    The dashed line also runs to the known months next to an estimated one so that each
    estimate is visibly joined to its neighbours; the known months keep their markers.
    """
    s = series.sort_values(TIME_COL)
    x, y = s[TIME_COL].to_numpy(), s[TARGET_COL].to_numpy(dtype=float)
    est = (s[STATUS_COL] == ESTIMATED).to_numpy()
    near = est | np.r_[est[1:], False] | np.r_[False, est[:-1]]
    (line,) = ax.plot(x, np.where(near, y, np.nan), color=_HISTORY_COLOR, lw=0.8, ls="--",
                      label="estimated (dashed)" if label else None)
    line.set_gid(ESTIMATED_GID)
    for status, gid, face in ((REPORTED, REPORTED_GID, _HISTORY_COLOR),
                              (DERIVED, DERIVED_GID, "white")):
        known = (s[STATUS_COL] == status).to_numpy()
        (dots,) = ax.plot(x[known], y[known], color=_HISTORY_COLOR, ls="none", marker="o",
                          ms=3 if status == REPORTED else 4, markerfacecolor=face,
                          label=f"{status}{' (open)' if status == DERIVED else ''}"
                          if label else None)
        dots.set_gid(gid)


def _format_axis(ax: Axes, title: str) -> None:
    """Common panel styling: title at left, concise dates, light grid."""
    locator = AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_title(title, loc="left", fontsize="medium")
    ax.tick_params(labelsize="small")
    ax.grid(alpha=0.3)


def _grid(fig: Figure, n: int, *, ncols: int) -> list[Axes]:
    """`n` panels in a grid of `ncols` columns; unused cells are hidden."""
    ncols = min(ncols, n)
    axes = fig.subplots(math.ceil(n / ncols), ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return list(axes[:n])


def _figure_backtest(backtest: pd.DataFrame, history: pd.DataFrame, *,
                     models: Sequence[str]) -> Figure:
    """Build the backtest figure: a panel per series, history plus each fold's forecasts."""
    _require(backtest, "backtest", [ID_COL, TIME_COL, CUTOFF_COL, *models])
    _require(history, "history", [ID_COL, TIME_COL, TARGET_COL, STATUS_COL])
    if not 1 <= len(models) <= MAX_BACKTEST_MODELS:
        raise ValueError(f"plot 1 to {MAX_BACKTEST_MODELS} models, got {list(models)}")
    bt = backtest.assign(**{TIME_COL: pd.to_datetime(backtest[TIME_COL]),
                            CUTOFF_COL: pd.to_datetime(backtest[CUTOFF_COL])})
    hist = recent_history(history)
    actual = history.assign(**{TIME_COL: pd.to_datetime(history[TIME_COL])}).set_index(
        [ID_COL, TIME_COL])[TARGET_COL]
    ids = shown_series(history, set(bt[ID_COL]))
    ncols = 4 if len(ids) > 6 else 3
    fig = Figure(figsize=(4.2 * min(ncols, len(ids)), 2.8 * math.ceil(len(ids) / ncols) + 0.6),
                 dpi=100, layout="constrained")
    axes = _grid(fig, len(ids), ncols=ncols)
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    unlabelled = set(models)
    for i, (ax, uid) in enumerate(zip(axes, ids, strict=True)):
        draw_history(ax, hist.loc[hist[ID_COL] == uid], label=i == 0)
        series = bt.loc[bt[ID_COL] == uid]
        for model in models:
            for cutoff, fold in series.groupby(CUTOFF_COL, sort=True):
                fold = fold.dropna(subset=[model]).sort_values(TIME_COL)
                if fold.empty:
                    continue
                start = actual.get((uid, cutoff), np.nan)
                x = np.r_[np.datetime64(cutoff, "ns"), fold[TIME_COL].to_numpy()]
                y = np.r_[start, fold[model].to_numpy(dtype=float)]
                if np.isnan(start):
                    x, y = x[1:], y[1:]
                ax.plot(x, y, color=colors[model], lw=0.9, alpha=0.8,
                        label=model if model in unlabelled else None)
                unlabelled.discard(model)
        _format_axis(ax, uid)
    axes[0].set_ylabel("tonnes")
    fig.legend(loc="outside lower center", ncols=len(models) + 2, fontsize="small")
    fig.suptitle(f"Backtest forecasts of {', '.join(models)}, one thin line per fold from its "
                 "cutoff; scored on reported months only (dots = reported, dashed = estimated)",
                 fontsize="medium")
    return fig


def plot_backtest(backtest: pd.DataFrame, history: pd.DataFrame, *, models: Sequence[str],
                  path: str | Path) -> Path:
    """PNG of the backtest: per series, recent history and every fold's forecasts of `models`."""
    return _save(_figure_backtest(backtest, history, models=models), path)


def _figure_mase_by_horizon(by_horizon: pd.DataFrame, *, baseline: str) -> Figure:
    """Build the MASE-by-horizon figure: one line per model, the baseline thick and dashed."""
    _require(by_horizon, "by_horizon", ["model", "horizon", "mase"])
    models = sorted(by_horizon["model"].unique())
    if baseline not in models:
        raise ValueError(f"baseline {baseline!r} not among the models {models}")
    fig = Figure(figsize=(8, 4.5), dpi=110, layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["tab10" if len(models) <= 11 else "tab20"]
    colors = iter(cmap(i % cmap.N) for i in range(len(models)))
    for model in [m for m in models if m != baseline] + [baseline]:
        rows = by_horizon.loc[by_horizon["model"] == model].sort_values("horizon")
        style = (dict(color="black", lw=2.5, ls="--", zorder=3) if model == baseline
                 else dict(color=next(colors), lw=1.2, marker="o", ms=3))
        ax.plot(rows["horizon"].to_numpy(), rows["mase"].to_numpy(dtype=float),
                label=f"{model} (baseline)" if model == baseline else model, **style)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(sorted(by_horizon["horizon"].unique()))
    ax.set_xlabel("horizon (months ahead)")
    ax.set_ylabel("MASE (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_title("Backtest MASE by forecast horizon")
    return fig


def plot_mase_by_horizon(by_horizon: pd.DataFrame, *, path: str | Path, baseline: str) -> Path:
    """PNG of MASE per horizon, one line per model; the baseline drawn thick and dashed."""
    return _save(_figure_mase_by_horizon(by_horizon, baseline=baseline), path)


def _figure_fan(forecast: pd.DataFrame, history: pd.DataFrame, *, scenario: str,
                top: int) -> Figure:
    """Build the fan chart: WORLD and the top destinations, 80% and 95% bands over history."""
    bands = [lo_col(FORECAST_COL, 95), hi_col(FORECAST_COL, 95), lo_col(FORECAST_COL, 80),
             hi_col(FORECAST_COL, 80)]
    _require(forecast, "forecast", [ID_COL, TIME_COL, "model", FORECAST_COL, *bands])
    _require(history, "history", [ID_COL, TIME_COL, TARGET_COL, STATUS_COL])
    panels = shown_series(history, set(forecast[ID_COL]), top=top)
    fc = forecast.assign(**{TIME_COL: pd.to_datetime(forecast[TIME_COL])})
    hist = recent_history(history)
    fig = Figure(figsize=(11, 2.6 * math.ceil(len(panels) / 2) + 0.6), dpi=100,
                 layout="constrained")
    axes = _grid(fig, len(panels), ncols=2)
    lo95, hi95, lo80, hi80 = bands
    for i, (ax, uid) in enumerate(zip(axes, panels, strict=True)):
        draw_history(ax, hist.loc[hist[ID_COL] == uid], label=i == 0)
        f = fc.loc[fc[ID_COL] == uid].sort_values(TIME_COL)
        x = f[TIME_COL].to_numpy()
        ax.fill_between(x, f[lo95].to_numpy(dtype=float), f[hi95].to_numpy(dtype=float),
                        color="C0", alpha=0.15, lw=0, label="95% interval" if i == 0 else None)
        ax.fill_between(x, f[lo80].to_numpy(dtype=float), f[hi80].to_numpy(dtype=float),
                        color="C0", alpha=0.3, lw=0, label="80% interval" if i == 0 else None)
        ax.plot(x, f[FORECAST_COL].to_numpy(dtype=float), color="C0", lw=1.5,
                label="forecast" if i == 0 else None)
        model = ", ".join(sorted(f["model"].astype(str).unique()))
        _format_axis(ax, f"{uid} ({model})")
    axes[0].set_ylabel("tonnes")
    fig.legend(loc="outside lower center", ncols=5, fontsize="small")
    fig.suptitle(f"Forecast under scenario '{scenario}' with 80% and 95% intervals "
                 "(dots = reported, dashed = estimated history)", fontsize="medium")
    return fig


def plot_fan(forecast: pd.DataFrame, history: pd.DataFrame, *, path: str | Path, scenario: str,
             top: int = 8) -> Path:
    """PNG fan chart of one scenario: WORLD, the top destinations and OTHER (at most `top`
    panels) with 80%/95% bands."""
    return _save(_figure_fan(forecast, history, scenario=scenario, top=top), path)


def shown_series(history: pd.DataFrame, candidates: set[str], *, top: int = MAX_PANELS,
                 ) -> list[str]:
    """The series a plot draws: WORLD, the `top` others by recent tonnes, then OTHER (those
    present); a panel of thousands of series gets a readable page, not thousands of panels."""
    extra = [uid for uid in (OTHER,) if uid in candidates]
    return [*([WORLD] if WORLD in candidates else []),
            *top_destinations(history, top=top - len(extra) - (WORLD in candidates),
                              candidates=candidates), *extra]


def top_destinations(history: pd.DataFrame, *, top: int, candidates: set[str]) -> list[str]:
    """The `top` destinations by tonnes in the last 12 months of history (not WORLD, OTHER)."""
    ds = pd.to_datetime(history[TIME_COL])
    recent = history.loc[ds > ds.max() - pd.DateOffset(months=12)]
    recent = recent.loc[recent[ID_COL].isin(candidates - {WORLD, OTHER})]
    totals = recent.groupby(ID_COL)[TARGET_COL].sum().sort_values(ascending=False, kind="stable")
    return list(totals.index[:top])


def plot_scenarios(forecasts: Mapping[str, pd.DataFrame], *, history: pd.DataFrame,
                   path: str | Path, top: int = MAX_PANELS) -> Path:
    """PNG comparing scenarios' point forecasts: WORLD, the largest series and OTHER (`top`).

    History: the last 36 months, reported months as dots, estimated ones dashed (as in every
    plot of the project). Intervals are left to the fan charts: overlapping bands of several
    scenarios are unreadable.
    """
    panels = shown_series(history, set().union(*(set(f[ID_COL]) for f in forecasts.values())),
                          top=top)
    hist = history.assign(**{TIME_COL: pd.to_datetime(history[TIME_COL])})
    hist = hist.loc[hist[TIME_COL] > hist[TIME_COL].max() - pd.DateOffset(months=36)]
    ncols = 2
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(11, 2.6 * nrows + 0.6), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    for ax, uid in zip(axes, panels, strict=False):
        draw_history(ax, hist.loc[hist[ID_COL] == uid], label=uid == panels[0])
        for scenario in sorted(forecasts):
            f = forecasts[scenario]
            f = f.loc[f[ID_COL] == uid].sort_values(TIME_COL)
            ax.plot(pd.to_datetime(f[TIME_COL]).to_numpy(), f[FORECAST_COL].to_numpy(), lw=1.5,
                    label=scenario if uid == panels[0] else None)
        ax.set_title(uid, loc="left")
        ax.set_ylabel("tonnes")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("Point forecast per scenario (intervals: fan charts and CSVs); history: dots = "
                 "reported, dashed = estimated")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncols=len(forecasts) + 2, fontsize="small")
    return _save(fig, path)
