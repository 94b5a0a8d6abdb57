"""Build, load and complete the bundled monthly panel (WORLD, six destinations and OTHER).

Run `python -m forecasting.data.bundle` to regenerate bundled/panel.csv and
bundled/observations.csv from the sourced files in bundled/sources/.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.atomic import write_bytes_atomic
from forecasting.data.benchmark import SumConstraint, benchmark
from forecasting.data.plain import read_plain
from forecasting.data.reported import (
    MONTHLY,
    SUM_SERIES,
    observations_table,
    read_observations,
    select_reported,
)
from forecasting.schema import (
    DEFAULT_DESTINATIONS,
    ESTIMATED,
    FREQ,
    ID_COL,
    OTHER,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
    validate_panel,
)

BUNDLED_DIR = Path(__file__).parent / "bundled"
SOURCES_DIR = BUNDLED_DIR / "sources"
PANEL_FILE = "panel.csv"
OBSERVATIONS_FILE = "observations.csv"
SERIES: tuple[str, ...] = (WORLD, *DEFAULT_DESTINATIONS, OTHER)

METHOD_WORLD = ("estimated: Denton first-difference benchmark of WORLD to its reported months "
                "and year-to-date/annual sums")
METHOD_SHARE = ("estimated: Denton first-difference benchmark of the share of WORLD to reported "
                "months and sums")
METHOD_OTHER = "estimated: WORLD minus {parts}"
OTHER_REPORTED = "derived: WORLD minus {parts}, all reported"
METHOD_GAP = "estimated: Denton first-difference interpolation between reported months"


def bundled_panel_path() -> Path:
    """Path of the bundled plain panel CSV."""
    return BUNDLED_DIR / PANEL_FILE


def _fmt(value: float) -> str:
    """Tonnes as text: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _chosen(obs: pd.DataFrame, destination: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Chosen monthly figures and chosen sums of one destination."""
    rows = obs[obs["chosen"] & (obs["destination"] == destination)]
    return rows[rows["series"] == MONTHLY], rows[rows["series"].isin(SUM_SERIES)]


def _sum_constraints(sums: pd.DataFrame, months: pd.Index,
                     weights: np.ndarray) -> list[SumConstraint]:
    """Sum constraints (positions, weights, total) over the month grid."""
    out = []
    for start, end, total in zip(sums["start"], sums["end"], sums["tonnes"], strict=True):
        idx = np.arange(months.get_loc(start), months.get_loc(end) + 1)
        out.append((idx, weights[idx], float(total)))
    return out


def build_bundle(sources_dir: Path = SOURCES_DIR, *, as_of: pd.Timestamp | None = None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build (plain panel, observations) from the sourced files; see bundled/README.md.

    With `as_of`, only figures whose period ends by that month are used: the panel is what
    could have been built then (estimates included), which is what a backtest fold may see.
    """
    obs = _selected(str(sources_dir)).copy()
    if as_of is not None:  # every source of one period shares its end: same choice either way
        obs = obs.loc[obs["end"].ne("") & (obs["end"] <= f"{pd.Timestamp(as_of):%Y-%m}")]
    world_months, world_sums = _chosen(obs, WORLD)
    chosen = obs[obs["chosen"]]
    first = min(world_months["start"].min(), world_sums["start"].min())
    last = chosen.loc[chosen["series"].isin((MONTHLY, *SUM_SERIES)), "end"].max()
    months = pd.Index(pd.period_range(first, last, freq="M").strftime("%Y-%m"))
    n = len(months)
    frames = {}
    pos = pd.Series(np.arange(n), index=months)
    fixed = dict(zip(pos[world_months["start"]], world_months["tonnes"], strict=True))
    world = benchmark(n, fixed=fixed, sums=_sum_constraints(world_sums, months, np.ones(n)))
    reported = np.zeros(n, dtype=bool)
    reported[list(fixed)] = True
    world = np.where(reported, world, np.round(world, 3))
    frames[WORLD] = (world, reported, _sources(world_months, pos, n, METHOD_WORLD))
    all_reported = reported.copy()
    for dest in DEFAULT_DESTINATIONS:
        dest_months, dest_sums = _chosen(obs, dest)
        if dest_months.empty and dest_sums.empty:
            continue  # no figure known yet (an early as_of): the series does not exist then
        at = pos[dest_months["start"]].to_numpy()
        values = dest_months["tonnes"].to_numpy()
        share = benchmark(n, fixed=dict(zip(at, values / world[at], strict=True)),
                          sums=_sum_constraints(dest_sums, months, world))
        tonnes = np.round(share * world, 3)
        tonnes[at] = values
        is_rep = np.zeros(n, dtype=bool)
        is_rep[at] = True
        all_reported &= is_rep
        frames[dest] = (tonnes, is_rep, _sources(dest_months, pos, n, METHOD_SHARE))
    other = np.round(world - sum(frames[d][0] for d in frames if d != WORLD), 3)
    parts = " ".join(d for d in frames if d != WORLD)
    frames[OTHER] = (other, all_reported,
                     np.where(all_reported, OTHER_REPORTED.format(parts=parts),
                              METHOD_OTHER.format(parts=parts)).astype(object))
    panel = pd.concat([
        pd.DataFrame({"destination": name, "month": months, "tonnes": tonnes,
                      "status": np.where(rep, REPORTED, ESTIMATED), "source": src})
        for name, (tonnes, rep, src) in frames.items()], ignore_index=True)
    negative = panel[panel["tonnes"] < 0]
    if not negative.empty:
        row = negative.iloc[0]
        raise ValueError(f"negative tonnes {row['tonnes']} for {row['destination']} "
                         f"{row['month']} ({row['source']})")
    return panel, observations_table(obs)


@lru_cache(maxsize=4)
def _selected(sources_dir: str) -> pd.DataFrame:
    """Sourced observations with the selection rule applied (cached: backtests rebuild often)."""
    return select_reported(read_observations(Path(sources_dir)))


def _sources(rows: pd.DataFrame, pos: pd.Series, n: int, method: str) -> np.ndarray:
    """Source column: the chosen URL on reported months, the method elsewhere."""
    out = np.full(n, method, dtype=object)
    out[pos[rows["start"]].to_numpy()] = rows["source_url"].to_numpy()
    return out


def write_bundle(out_dir: Path = BUNDLED_DIR, sources_dir: Path = SOURCES_DIR) -> list[Path]:
    """Build the bundle and write panel.csv and observations.csv atomically into `out_dir`."""
    panel, obs = build_bundle(sources_dir)
    obs = obs.assign(tonnes=obs["tonnes"].map(_fmt), chosen=obs["chosen"].map(str).str.lower())
    return [write_bytes_atomic(Path(out_dir) / name,
                               frame.to_csv(index=False, lineterminator="\n").encode())
            for name, frame in ((PANEL_FILE, _as_text(panel)), (OBSERVATIONS_FILE, obs))]


def _as_text(panel: pd.DataFrame) -> pd.DataFrame:
    """The plain panel as written to panel.csv (tonnes formatted by `_fmt`)."""
    return panel.assign(tonnes=panel["tonnes"].map(_fmt))


def _long(table: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """A plain text table as the validated long panel (the project's plain reader)."""
    return validate_panel(read_plain(table, source=source), source=source)


def load_bundled_panel() -> pd.DataFrame:
    """The bundled panel as the long frame unique_id, ds, y, status."""
    path = bundled_panel_path()
    return _long(pd.read_csv(path, dtype=str, keep_default_na=False), source=path)


def bundled_panel_at(as_of: pd.Timestamp | None, sources_dir: Path = SOURCES_DIR,
                     ) -> pd.DataFrame:
    """The long panel built only from figures for months up to `as_of` (None: all, which is
    exactly load_bundled_panel()): what a backtest fold at that cutoff may see."""
    panel, _ = build_bundle(sources_dir, as_of=as_of)
    return _long(_as_text(panel).astype({"month": str}), source=bundled_panel_path())


def estimated_share(panel: pd.DataFrame, *, id_col: str = ID_COL,
                    status_col: str = STATUS_COL) -> pd.DataFrame:
    """Months, estimated months and their share per series (in order of first appearance)."""
    est = panel[status_col].eq(ESTIMATED)
    table = est.groupby(panel[id_col], sort=False).agg(months="size", estimated="sum")
    table["estimated_share"] = (table["estimated"] / table["months"]).round(3)
    return table.reset_index()


def fill_gaps(panel: pd.DataFrame, *, id_col: str = ID_COL, time_col: str = TIME_COL,
              target_col: str = TARGET_COL, status_col: str = STATUS_COL) -> pd.DataFrame:
    """Estimate NaN or missing months of each series (first-difference benchmark), flagged."""
    grids = []
    for uid, group in panel.groupby(id_col, sort=False):
        ds = pd.date_range(group[time_col].min(), group[time_col].max(), freq=FREQ)
        grids.append(pd.DataFrame({id_col: uid, time_col: ds}))
    grid = pd.concat(grids, ignore_index=True) if grids else panel[[id_col, time_col]]
    if len(grid) == len(panel) and panel[target_col].notna().all():
        return panel
    out = grid.merge(panel, on=[id_col, time_col], how="left")
    gap = out[target_col].isna().to_numpy()
    if status_col not in out.columns:
        out[status_col] = REPORTED
    for uid, idx in out.groupby(id_col, sort=False).indices.items():
        y = out[target_col].to_numpy()[idx]
        known = np.flatnonzero(~np.isnan(y))
        if known.size == 0:
            raise InputError("<panel>", f"series {uid!r} has no reported month to fill from",
                             column=target_col)
        if known.size < len(idx):
            filled = benchmark(len(idx), fixed=dict(zip(known, y[known], strict=True)), sums=[])
            out.loc[idx, target_col] = np.maximum(filled, 0.0)  # no float dust below 0 t
    out.loc[gap, status_col] = ESTIMATED
    return out


def main() -> None:
    """Regenerate the bundled files from the sources and print the estimated-share table."""
    for path in write_bundle():
        print(f"wrote {path}")
    print(estimated_share(load_bundled_panel()).to_string(index=False))


if __name__ == "__main__":
    main()
