"""The parts of the printed summary: identical models merged, the next months with bands, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.publish import to_public
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, WORLD, hi_col, lo_col

ALIAS_SEP = " = "


def identical_models(backtest: pd.DataFrame, models: list[str]) -> list[list[str]]:
    """Groups of `models` (in their order) whose backtest forecasts and bounds are identical on
    every row (to 1e-6); a model alone is a group of one."""
    groups: dict[bytes, list[str]] = {}
    for model in models:
        cols = [c for c in (model, lo_col(model, 80), hi_col(model, 80), lo_col(model, 95),
                            hi_col(model, 95)) if c in backtest.columns]
        values = np.nan_to_num(np.round(backtest[cols].to_numpy(dtype=float), 6), nan=np.inf)
        key = values.tobytes() if cols else model.encode()
        groups.setdefault(key, []).append(model)
    return list(groups.values())


def merged_board(board: pd.DataFrame, backtest: pd.DataFrame | None) -> pd.DataFrame:
    """The leaderboard with models of identical backtest forecasts on one row
    ("ADIDA = CrostonOptimized = IMAPA"), ranked again."""
    if backtest is None:
        return board
    names = {group[0]: ALIAS_SEP.join(group)
             for group in identical_models(backtest, list(board["model"]))}
    out = board.loc[board["model"].isin(names)].copy()
    out["model"] = out["model"].map(names)
    out["rank"] = np.arange(1, len(out) + 1)
    return out.reset_index(drop=True)


def aliases_of(model: str, backtest: pd.DataFrame | None, models: list[str]) -> list[str]:
    """The other models whose backtest forecasts are identical to `model`'s."""
    if backtest is None:
        return []
    group = next((g for g in identical_models(backtest, models) if model in g), [model])
    return [m for m in group if m != model]


def top_series(panel: pd.DataFrame, *, n: int) -> list[str]:
    """WORLD (when present), then the `n` other series with the most volume in the last 12
    months of history."""
    last = panel[TIME_COL].max()
    recent = panel.loc[panel[TIME_COL] > last - pd.DateOffset(months=12)]
    volume = recent.groupby(ID_COL)[TARGET_COL].sum().drop(WORLD, errors="ignore")
    ranked = volume.sort_values(ascending=False, kind="stable").index[:n].tolist()
    return ([WORLD] if (panel[ID_COL] == WORLD).any() else []) + ranked


def next_months(forecast: pd.DataFrame, *, as_of: str, scenario: str, series: list[str],
                months: int = 3) -> str:
    """A table of the first `months` months of `series` as published (0.1 t), each cell
    'tonnes (lo_80-hi_80)'; series left-aligned, one row each."""
    public = to_public(forecast, as_of=as_of, scenario=scenario)
    public = public.loc[public["destination"].isin(series) & (public["horizon"] <= months)]
    cell = public.apply(lambda r: f"{r.tonnes:,.1f} ({r.lo_80:,.1f}-{r.hi_80:,.1f})", axis=1)
    table = public.assign(cell=cell).pivot(index="destination", columns="month", values="cell")
    table = table.loc[series]
    first = max(len("series"), *map(len, series))
    width = max(len(v) for v in [*table.columns, *table.to_numpy().ravel()])
    return "\n".join([f"{'series':<{first}}" + "".join(f"  {m:>{width}}" for m in table.columns),
                      *(f"{uid:<{first}}" + "".join(f"  {v:>{width}}" for v in row)
                        for uid, row in zip(table.index, table.to_numpy(), strict=True))])


def file_lines(files: dict[str, Path], published: object | None) -> list[str]:
    """Where the run's and the publication's files are, plots named."""
    lines = []
    if files:
        run_dir = next(iter(files.values())).parent
        tables = [name for name in files if not name.endswith(".png")]
        plots = [name for name in files if name.endswith(".png")]
        lines.append(f"  run directory: {run_dir} ({', '.join(tables)})")
        if plots:
            lines.append(f"  plots: {', '.join(plots)} (in the run directory)")
    if published is not None:
        names = sorted(p.name for p in published.directory.iterdir() if p.is_file())
        lines.append(f"  published: {published.directory} ({', '.join(names)})")
    return lines
