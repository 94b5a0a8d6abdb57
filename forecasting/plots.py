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
FOLD_GID, AHEAD_GID = "backtest-fold", "backtest-ahead-"
CLIPPED_GID = "band-95-clipped"
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


def months_ahead(ds: pd.Series, cutoff: pd.Series) -> np.ndarray:
    """How many months after its cutoff each target month lies (1 = the next month)."""
    ds, cutoff = pd.to_datetime(ds), pd.to_datetime(cutoff)
    return ((ds.dt.year - cutoff.dt.year) * 12 + ds.dt.month - cutoff.dt.month).to_numpy()


def _ahead_label(model: str, horizon: int, published: bool) -> str:
    """Legend text of a model's `horizon`-months-ahead line."""
    return (f"{model}{' (published)' if published else ''}: forecast made "
            f"{_months(horizon)} earlier")


def _months(n: int) -> str:
    """'1 month', '3 months'."""
    return f"{n} month{'' if n == 1 else 's'}"


def _figure_backtest(backtest: pd.DataFrame, history: pd.DataFrame, *,
                     models: Sequence[str], published: str | None = None,
                     horizon: int = 1) -> Figure:
    """Build the backtest figure: per series, actuals, the focus model's folds as faint lines
    and, for each model, one line of its forecasts made `horizon` months earlier.

    The focus is `published` when given (the published choice), else `models[0]`; its
    `horizon`-ahead 80% interval is shaded when the frame has it.
    """
    focus = published or models[0]
    shown = list(dict.fromkeys([focus, *models]))
    _require(backtest, "backtest", [ID_COL, TIME_COL, CUTOFF_COL, *shown])
    _require(history, "history", [ID_COL, TIME_COL, TARGET_COL, STATUS_COL])
    if not 1 <= len(shown) <= MAX_BACKTEST_MODELS:
        raise ValueError(f"plot 1 to {MAX_BACKTEST_MODELS} models, got {shown}")
    bt = backtest.assign(**{TIME_COL: pd.to_datetime(backtest[TIME_COL]),
                            CUTOFF_COL: pd.to_datetime(backtest[CUTOFF_COL])})
    bt["_ahead"] = months_ahead(bt[TIME_COL], bt[CUTOFF_COL])
    if not (bt["_ahead"] == horizon).any():
        raise ValueError(f"backtest frame has no forecast {horizon} month(s) ahead")
    hist = recent_history(history)
    hist = hist.loc[hist[TIME_COL] > bt[CUTOFF_COL].min() - pd.DateOffset(months=12)]
    actual = history.assign(**{TIME_COL: pd.to_datetime(history[TIME_COL])}).set_index(
        [ID_COL, TIME_COL])[TARGET_COL]
    ids = shown_series(history, set(bt[ID_COL]))
    ncols = 4 if len(ids) > 6 else 3
    fig = Figure(figsize=(4.2 * min(ncols, len(ids)), 2.8 * math.ceil(len(ids) / ncols) + 0.9),
                 dpi=100, layout="constrained")
    axes = _grid(fig, len(ids), ncols=ncols)
    band = [lo_col(focus, 80), hi_col(focus, 80)]
    has_band = all(c in bt.columns for c in band)
    for i, (ax, uid) in enumerate(zip(axes, ids, strict=True)):
        first = i == 0
        draw_history(ax, hist.loc[hist[ID_COL] == uid], label=first)
        series = bt.loc[bt[ID_COL] == uid]
        for j, (cutoff, fold) in enumerate(series.groupby(CUTOFF_COL, sort=True)):
            fold = fold.dropna(subset=[focus]).sort_values(TIME_COL)
            if fold.empty:
                continue
            start = actual.get((uid, cutoff), np.nan)
            x = np.r_[np.datetime64(cutoff, "ns"), fold[TIME_COL].to_numpy()]
            y = np.r_[start, fold[focus].to_numpy(dtype=float)]
            if np.isnan(start):
                x, y = x[1:], y[1:]
            (line,) = ax.plot(x, y, color="C0", lw=0.7, alpha=0.3,
                              label=f"{focus}: each fold from its cutoff (faint)"
                              if first and j == 0 else None)
            line.set_gid(FOLD_GID)
        ahead = series.loc[series["_ahead"] == horizon].sort_values(TIME_COL)
        if has_band:
            ax.fill_between(ahead[TIME_COL].to_numpy(), ahead[band[0]].to_numpy(dtype=float),
                            ahead[band[1]].to_numpy(dtype=float), color="C0", alpha=0.12,
                            lw=0, label=f"{focus}: its 80% interval" if first else None)
        for k, model in enumerate(shown):
            style = (dict(color="C0", lw=2.0, marker="o", ms=3, zorder=3) if model == focus
                     else dict(color=f"C{k + 1}", lw=1.1, ls="--", zorder=2))
            (line,) = ax.plot(ahead[TIME_COL].to_numpy(), ahead[model].to_numpy(dtype=float),
                              label=_ahead_label(model, horizon, model == published)
                              if first else None, **style)
            line.set_gid(f"{AHEAD_GID}{model}")
        _format_axis(ax, uid)
    axes[0].set_ylabel("tonnes")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    what = f"published choice {focus}" if published else focus
    folds = bt[CUTOFF_COL].nunique()
    fig.suptitle(f"Backtest of the {what} against actuals: thick line = forecast made "
                 f"{_months(horizon)} earlier, faint lines = the {folds} folds, each from its "
                 "cutoff\nhistory: dots = reported, open = derived, dashed = estimated",
                 fontsize="medium")
    return fig


def plot_backtest(backtest: pd.DataFrame, history: pd.DataFrame, *, models: Sequence[str],
                  path: str | Path, published: str | None = None, horizon: int = 1) -> Path:
    """PNG of the backtest: per series, actuals, the published choice's (else `models[0]`'s)
    folds faint, and each model's forecasts made `horizon` months earlier as one line."""
    return _save(_figure_backtest(backtest, history, models=models, published=published,
                                  horizon=horizon), path)


def identical_groups(by_horizon: pd.DataFrame) -> list[list[str]]:
    """Models whose MASE is the same at every horizon, grouped (first seen order kept):
    their lines would hide each other, so each group is drawn once."""
    wide = by_horizon.pivot_table(index="model", columns="horizon", values="mase", sort=True)
    keys = wide.round(9).astype(str).agg("|".join, axis=1)
    return [list(names) for _, names in keys.groupby(keys, sort=False).groups.items()]


def _figure_mase_by_horizon(by_horizon: pd.DataFrame, *, baseline: str,
                            published: str | None = None) -> Figure:
    """Build the MASE-by-horizon figure: one line per group of identical models, the baseline
    thick and dashed, the published choice thick and blue (as in the other plots)."""
    _require(by_horizon, "by_horizon", ["model", "horizon", "mase"])
    models = sorted(by_horizon["model"].unique())
    for name, role in ((baseline, "baseline"), (published, "published choice")):
        if name is not None and name not in models:
            raise ValueError(f"{role} {name!r} not among the models {models}")
    groups = identical_groups(by_horizon.loc[by_horizon["model"].isin(models)])
    groups.sort(key=lambda g: (baseline in g, published in g, g[0]))
    fig = Figure(figsize=(8.5, 4.5), dpi=110, layout="constrained")
    ax = fig.subplots()
    cmap = colormaps["tab20"]  # without its blues: blue (C0) is the published choice's
    colors = iter(cmap(2 + i % (cmap.N - 2)) for i in range(len(groups)))
    for group in groups:
        rows = by_horizon.loc[by_horizon["model"] == group[0]].sort_values("horizon")
        label = " = ".join(group)
        if baseline in group:
            style, label = dict(color="black", lw=2.5, ls="--", zorder=3), f"{label} (baseline)"
        elif published in group:
            style = dict(color="C0", lw=3.0, marker="o", ms=5, zorder=4)
            label = f"{label} (published)"
        else:
            style = dict(color=next(colors), lw=1.2, marker="o", ms=3)
        ax.plot(rows["horizon"].to_numpy(), rows["mase"].to_numpy(dtype=float), label=label,
                **style)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(sorted(by_horizon["horizon"].unique()))
    ax.set_xlabel("horizon (months ahead)")
    ax.set_ylabel("MASE (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    ax.set_title("Backtest MASE by forecast horizon (models with identical scores share a line)")
    return fig


def plot_mase_by_horizon(by_horizon: pd.DataFrame, *, path: str | Path, baseline: str,
                         published: str | None = None) -> Path:
    """PNG of MASE per horizon, one line per group of identical models; the baseline drawn
    thick and dashed, the published choice (when given) thick and blue."""
    return _save(_figure_mase_by_horizon(by_horizon, baseline=baseline, published=published),
                 path)


def fan_limits(history: np.ndarray, lo80: np.ndarray, hi80: np.ndarray, *,
               pad: float = 0.05) -> tuple[float, float]:
    """A fan panel's y-range: the span of the shown history and the 80% band, padded; the 95%
    band does not widen it (it is drawn, clipped, with a marker where it leaves the range)."""
    values = np.concatenate([history, lo80, hi80]).astype(float)
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    margin = pad * (high - low) if high > low else max(abs(high), 1.0) * pad
    return low - margin, high + margin


def _mark_clipped(ax: Axes, x: np.ndarray, lo95: np.ndarray, hi95: np.ndarray, *,
                  label: bool) -> None:
    """Triangles at the top (bottom) edge in the months where the 95% band leaves the y-range."""
    bottom, top = ax.get_ylim()
    for mask, marker, y in ((hi95 > top, "^", 0.97), (lo95 < bottom, "v", 0.03)):
        if mask.any():
            (marks,) = ax.plot(x[mask], np.full(mask.sum(), y), ls="none", marker=marker,
                               ms=5, color="C0", alpha=0.6, transform=ax.get_xaxis_transform(),
                               label="95% interval runs off the chart" if label else None)
            marks.set_gid(CLIPPED_GID)
            label = False


def _figure_fan(forecast: pd.DataFrame, history: pd.DataFrame, *, scenario: str,
                top: int) -> Figure:
    """Build the fan chart: WORLD, the top destinations and OTHER, 80% and 95% bands over
    history; the y-range fits history and the 80% band, the 95% band is clipped and marked."""
    bands = [lo_col(FORECAST_COL, 95), hi_col(FORECAST_COL, 95), lo_col(FORECAST_COL, 80),
             hi_col(FORECAST_COL, 80)]
    _require(forecast, "forecast", [ID_COL, TIME_COL, "model", FORECAST_COL, *bands])
    _require(history, "history", [ID_COL, TIME_COL, TARGET_COL, STATUS_COL])
    panels = shown_series(history, set(forecast[ID_COL]), top=top)
    fc = forecast.assign(**{TIME_COL: pd.to_datetime(forecast[TIME_COL])})
    hist = recent_history(history)
    fig = Figure(figsize=(11, 2.6 * math.ceil(len(panels) / 2) + 0.8), dpi=100,
                 layout="constrained")
    axes = _grid(fig, len(panels), ncols=2)
    clip_label = True
    for i, (ax, uid) in enumerate(zip(axes, panels, strict=True)):
        past = hist.loc[hist[ID_COL] == uid]
        draw_history(ax, past, label=i == 0)
        f = fc.loc[fc[ID_COL] == uid].sort_values(TIME_COL)
        x = f[TIME_COL].to_numpy()
        lo95, hi95, lo80, hi80 = (f[c].to_numpy(dtype=float) for c in bands)
        ax.fill_between(x, lo95, hi95, color="C0", alpha=0.15, lw=0,
                        label="95% interval" if i == 0 else None)
        ax.fill_between(x, lo80, hi80, color="C0", alpha=0.3, lw=0,
                        label="80% interval" if i == 0 else None)
        ax.plot(x, f[FORECAST_COL].to_numpy(dtype=float), color="C0", lw=1.5,
                label="forecast" if i == 0 else None)
        ax.set_ylim(*fan_limits(past[TARGET_COL].to_numpy(), lo80, hi80))
        before = len(ax.get_lines())
        _mark_clipped(ax, x, lo95, hi95, label=clip_label)
        clip_label = clip_label and len(ax.get_lines()) == before
        model = ", ".join(sorted(f["model"].astype(str).unique()))
        _format_axis(ax, f"{uid} ({model})")
    axes[0].set_ylabel("tonnes")
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize="small")
    fig.suptitle(f"Forecast under scenario '{scenario}' with 80% and 95% intervals; y-axis fits "
                 "history and the 80% band (triangles: the 95% band runs off the chart)\n"
                 "history: dots = reported, open = derived, dashed = estimated",
                 fontsize="medium")
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


SCENARIO_STYLES = (("-", "o", 3.4, 7.0), ("--", "s", 2.4, 5.0), (":", "^", 1.8, 4.0),
                   ("-.", "D", 1.3, 3.0))  # line style, marker, width, marker size


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Month by month, whether two point-forecast paths are equal (on their common months)."""
    pa, pb = a.align(b, join="inner")
    return np.isclose(pa.to_numpy(float), pb.to_numpy(float), rtol=1e-9, atol=1e-6)


def coincidence_note(paths: Mapping[str, pd.Series]) -> str:
    """Which scenarios' point forecasts coincide in a panel: 'a = b' when equal throughout,
    'a = c until 2026-03' when equal through that month and apart after; '' when none do."""
    groups: list[list[str]] = []
    for name in (n for n in paths if len(paths[n])):
        group = next((g for g in groups if _same(paths[g[0]], paths[name]).all()), None)
        if group is None:
            groups.append([name])
        else:
            group.append(name)
    notes = [" = ".join(g) for g in groups if len(g) > 1]
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            same = _same(paths[a[0]], paths[b[0]])
            if same[0]:
                last = paths[a[0]].index[int(np.argmin(same)) - 1]
                notes.append(f"{a[0]} = {b[0]} until {pd.Timestamp(last):%Y-%m}")
    return "; ".join(notes)


def _figure_scenarios(forecasts: Mapping[str, pd.DataFrame], *, history: pd.DataFrame,
                      top: int) -> Figure:
    """Build the scenario comparison: per panel, history and each scenario's point forecast in
    its own line style and marker, with a note naming the scenarios that coincide."""
    for name, frame in forecasts.items():
        _require(frame, f"forecast '{name}'", [ID_COL, TIME_COL, FORECAST_COL])
    _require(history, "history", [ID_COL, TIME_COL, TARGET_COL, STATUS_COL])
    panels = shown_series(history, set().union(*(set(f[ID_COL]) for f in forecasts.values())),
                          top=top)
    hist = recent_history(history)
    fig = Figure(figsize=(11, 2.6 * math.ceil(len(panels) / 2) + 0.9), dpi=100,
                 layout="constrained")
    axes = _grid(fig, len(panels), ncols=2)
    names = sorted(forecasts)
    for i, (ax, uid) in enumerate(zip(axes, panels, strict=True)):
        draw_history(ax, hist.loc[hist[ID_COL] == uid], label=i == 0)
        paths = {}
        for k, scenario in enumerate(names):
            f = forecasts[scenario]
            f = f.loc[f[ID_COL] == uid].sort_values(TIME_COL)
            paths[scenario] = pd.Series(f[FORECAST_COL].to_numpy(dtype=float),
                                        index=pd.to_datetime(f[TIME_COL]).to_numpy())
            ls, marker, lw, ms = SCENARIO_STYLES[k % len(SCENARIO_STYLES)]
            ax.plot(paths[scenario].index, paths[scenario].to_numpy(), ls=ls, marker=marker,
                    lw=lw, ms=ms, color=f"C{k}", alpha=0.85, zorder=2 + k,
                    label=scenario if i == 0 else None)
        note = coincidence_note(paths)
        if note:  # in the title line, where it hides no data
            ax.set_title(f"coincide: {note}", loc="right", fontsize="x-small")
        _format_axis(ax, uid)
    axes[0].set_ylabel("tonnes")
    fig.suptitle("Point forecast per scenario (intervals: fan charts and CSVs); each scenario has "
                 "its own line style and marker, so coinciding ones stay visible\nhistory: dots = "
                 "reported, open = derived, dashed = estimated", fontsize="medium")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncols=len(forecasts) + 3, fontsize="small")
    return fig


def plot_scenarios(forecasts: Mapping[str, pd.DataFrame], *, history: pd.DataFrame,
                   path: str | Path, top: int = MAX_PANELS) -> Path:
    """PNG comparing scenarios' point forecasts: WORLD, the largest series and OTHER (`top`).

    History: the last 36 months drawn as in every plot of the project. Scenarios differ in
    line style and marker (a thick solid line under thinner dashed ones) and a note names
    those that coincide. Intervals are left to the fan charts: overlapping bands of several
    scenarios are unreadable.
    """
    return _save(_figure_scenarios(forecasts, history=history, top=top), path)
