"""Turn a loaded panel into the modelled series: destinations + OTHER = WORLD, or as given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.schema import (
    ESTIMATED,
    FREQ,
    ID_COL,
    OTHER,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
)


def month_grid(panel: pd.DataFrame, *, absent_is_zero: bool) -> pd.DataFrame:
    """Every series on every month from the first to the last month of the panel.

    A cell the file does not hold is NaN (not reported), except when `absent_is_zero`
    and its month appears in the file for another series: partner-by-partner customs and
    Comtrade files list every partner that traded, so an absent partner shipped 0 t.
    """
    months = pd.date_range(panel[TIME_COL].min(), panel[TIME_COL].max(), freq=FREQ)
    ids = np.sort(panel[ID_COL].unique())
    grid = pd.MultiIndex.from_product([ids, months], names=[ID_COL, TIME_COL]).to_frame(
        index=False)
    out = grid.merge(panel, on=[ID_COL, TIME_COL], how="left")
    if absent_is_zero:
        fill = out[TARGET_COL].isna() & out[TIME_COL].isin(panel[TIME_COL].unique())
        out.loc[fill, TARGET_COL] = 0.0
        out.loc[fill, STATUS_COL] = REPORTED
    out[STATUS_COL] = out[STATUS_COL].fillna(ESTIMATED)
    return out


def _aggregate(rows: pd.DataFrame, uid: str) -> pd.DataFrame:
    """Sum `rows` per month into series `uid`; reported only if every part is reported."""
    g = rows.assign(rep=rows[STATUS_COL].eq(REPORTED) & rows[TARGET_COL].notna()).groupby(TIME_COL)
    out = pd.DataFrame({
        TARGET_COL: g[TARGET_COL].sum(min_count=1).where(g[TARGET_COL].count() == g.size()),
        STATUS_COL: np.where(g["rep"].all(), REPORTED, ESTIMATED),
    }).reset_index()
    out.insert(0, ID_COL, uid)
    return out


def to_model_panel(panel: pd.DataFrame, *, destinations: Sequence[str],
                   absent_is_zero: bool = False) -> pd.DataFrame:
    """Keep `destinations`, fold every other partner into OTHER, and make WORLD their sum.

    A WORLD series in the input is kept as reported; then OTHER (if the input has none and
    no other partners) is WORLD minus the destinations. Cells that cannot be computed stay
    NaN for the gap filler to estimate.
    """
    grid = month_grid(panel, absent_is_zero=absent_is_zero)
    dests = [d for d in destinations if d in set(grid[ID_COL])]
    kept = grid.loc[grid[ID_COL].isin(dests)]
    rest = grid.loc[~grid[ID_COL].isin([*dests, WORLD])]
    world_in = grid.loc[grid[ID_COL] == WORLD]
    if not rest.empty:
        other = _aggregate(rest, OTHER) if set(rest[ID_COL]) != {OTHER} else rest
    elif not world_in.empty:
        parts = _aggregate(kept, "_dest")
        other = world_in.merge(parts, on=TIME_COL, suffixes=("", "_d"))
        other = pd.DataFrame({
            ID_COL: OTHER, TIME_COL: other[TIME_COL],
            TARGET_COL: (other[TARGET_COL] - other[f"{TARGET_COL}_d"]).clip(lower=0.0),
            STATUS_COL: np.where((other[STATUS_COL] == REPORTED)
                                 & (other[f"{STATUS_COL}_d"] == REPORTED), REPORTED, ESTIMATED),
        })
    else:
        other = rest
    bottom = pd.concat([kept, other], ignore_index=True)
    world = world_in if not world_in.empty else _aggregate(bottom, WORLD)
    out = pd.concat([bottom, world], ignore_index=True)
    out = out.loc[out.groupby(ID_COL)[TARGET_COL].transform("count") > 0]
    return out[[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]].sort_values(
        [ID_COL, TIME_COL], ignore_index=True)


HIERARCHIES: tuple[str, ...] = ("world", "none")
PREVIEW = 8  # ids shown by SeriesSummary.line before "..."


@dataclass(frozen=True)
class SeriesSummary:
    """Which series are modelled and which input partners were summed into OTHER."""

    modelled: tuple[str, ...]
    folded: tuple[str, ...] = ()

    def tags(self) -> dict[str, str]:
        """MLflow tags n_series_modelled and n_series_folded."""
        return {"n_series_modelled": str(len(self.modelled)),
                "n_series_folded": str(len(self.folded))}

    def line(self) -> str:
        """One printable line: counts and the first ids of each list."""
        def ids(values: tuple[str, ...]) -> str:
            shown = ", ".join(values[:PREVIEW])
            return shown + (", ..." if len(values) > PREVIEW else "")

        text = f"series: {len(self.modelled)} modelled ({ids(self.modelled)})"
        if self.folded:
            text += f", {len(self.folded)} folded into {OTHER} ({ids(self.folded)})"
        else:
            text += f", 0 folded into {OTHER}"
        return text


def partners(panel: pd.DataFrame) -> list[str]:
    """The partner ids of a loaded panel (every id but WORLD and OTHER), sorted."""
    return sorted(set(panel[ID_COL]) - {WORLD, OTHER})


def with_history(panel: pd.DataFrame, *, min_history: int) -> tuple[str, ...]:
    """Partners with at least `min_history` months holding a reported figure in the panel."""
    reported = panel.loc[panel[STATUS_COL].eq(REPORTED) & panel[TARGET_COL].notna()]
    counts = reported.groupby(ID_COL)[TIME_COL].nunique()
    return tuple(uid for uid in partners(panel) if counts.get(uid, 0) >= min_history)


def folded(panel: pd.DataFrame, destinations: Sequence[str]) -> tuple[str, ...]:
    """Partners of `panel` that to_model_panel sums into OTHER (not among `destinations`)."""
    return tuple(uid for uid in partners(panel) if uid not in set(destinations))


def as_given(panel: pd.DataFrame) -> pd.DataFrame:
    """Hierarchy `none`: every series as given, from its own first month (no WORLD, no OTHER).

    A series without any figure is dropped. A series that stops before the panel's last month
    runs on to it with missing months (estimated and flagged by the gap filler), so every
    series is forecast from the same month; gaps inside a series are left missing too.
    """
    kept = panel.loc[panel.groupby(ID_COL)[TARGET_COL].transform("count") > 0,
                     [ID_COL, TIME_COL, TARGET_COL, STATUS_COL]]
    last = kept.groupby(ID_COL)[TIME_COL].max()
    end = kept[TIME_COL].max()
    n_pad = ((end.year - last.dt.year) * 12 + end.month - last.dt.month).to_numpy()
    if n_pad.any():
        steps = np.arange(n_pad.sum()) - np.repeat(np.cumsum(n_pad) - n_pad, n_pad) + 1
        months = pd.PeriodIndex(np.repeat(last.dt.to_period("M").to_numpy(), n_pad) + steps)
        pad = pd.DataFrame({ID_COL: np.repeat(last.index.to_numpy(), n_pad),
                            TIME_COL: months.to_timestamp(), TARGET_COL: np.nan,
                            STATUS_COL: ESTIMATED})
        kept = pd.concat([kept, pad], ignore_index=True)
    return kept.sort_values([ID_COL, TIME_COL], ignore_index=True)
