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
from forecasting.data.benchmark import DEFAULT_PENALTY, SumConstraint, benchmark
from forecasting.data.plain import read_plain
from forecasting.data.reported import (
    MONTHLY,
    SUM_SERIES,
    observations_table,
    read_observations,
    select_reported,
)
from forecasting.data.seasonal import ROUNDS, seasonal_benchmark
from forecasting.schema import (
    DEFAULT_DESTINATIONS,
    DERIVED,
    ESTIMATED,
    FREQ,
    ID_COL,
    OTHER,
    REPORTED,
    STATUS_COL,
    STATUSES,
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

METHOD_WORLD = ("estimated: Denton-Cholette proportional benchmark of a calendar-month seasonal "
                "profile to WORLD's reported/derived months and year-to-date/annual sums")
METHOD_SHARE = ("estimated: share of WORLD (Denton first-difference benchmark to the known "
                "months and sums) x WORLD")
METHOD_OTHER = "estimated: WORLD minus {parts}"
OTHER_KNOWN = "derived: WORLD minus {parts}, all reported or derived"
METHOD_GAP = "estimated: Denton first-difference interpolation between reported months"
# Months of the April 2025 licensing shock (magnets need an export licence from 4 April 2025;
# exports fell by half to three quarters and recovered in July): met, not learnt as a season.
UNSEASONAL: tuple[str, ...] = ("2025-04", "2025-05", "2025-06")
DERIVED_SUM_PENALTY = 1e4  # a derived sum gives way to reported sums (penalty 1e8) in a conflict


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
                     weights: np.ndarray) -> tuple[list[SumConstraint], list[float]]:
    """Sum constraints (positions, weights, total) over the month grid and their penalties."""
    out = []
    for start, end, total in zip(sums["start"], sums["end"], sums["tonnes"], strict=True):
        idx = np.arange(months.get_loc(start), months.get_loc(end) + 1)
        out.append((idx, weights[idx], float(total)))
    penalties = np.where(sums["status"] == DERIVED, DERIVED_SUM_PENALTY, DEFAULT_PENALTY)
    return out, penalties.tolist()


def known_at(obs: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The figures a person could have read at the cutoff month `as_of`: period ended by then
    and published by the following month (the month in which `as_of`'s figures appear)."""
    month = pd.Period(pd.Timestamp(as_of), "M")
    return obs.loc[obs["end"].ne("") & (obs["end"] <= f"{month}")
                   & (obs["published"] <= f"{month + 1}")]


def build_bundle(sources_dir: Path = SOURCES_DIR, *, as_of: pd.Timestamp | None = None,
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build (plain panel, observations) from the sourced files; see bundled/README.md.

    With `as_of`, only figures known at that cutoff month are selected and used (`known_at`),
    the seasonal profile included: the panel is what could have been built then.
    """
    obs = selected_observations(sources_dir, as_of=as_of)
    return build_panel(obs), observations_table(obs)


def build_panel(obs: pd.DataFrame, *, rounds: int = ROUNDS) -> pd.DataFrame:
    """The plain panel from selected observations (`rounds=0`: the flat Denton benchmark)."""
    months = _grid(obs)
    n = len(months)
    pos = pd.Series(np.arange(n), index=months)
    world_months, _ = _chosen(obs, WORLD)
    world, _ = _world(obs, months, rounds=rounds)
    frames = {WORLD: (world, _status(world_months, pos, n), _sources(world_months, pos, n,
                                                                      METHOD_WORLD))}
    for dest in DEFAULT_DESTINATIONS:
        dest_months, dest_sums = _chosen(obs, dest)
        if dest_months.empty and dest_sums.empty:
            continue  # no figure known yet (an early as_of): the series does not exist then
        at = pos[dest_months["start"]].to_numpy()
        values = dest_months["tonnes"].to_numpy()
        sums, penalties = _sum_constraints(dest_sums, months, world)
        share = benchmark(n, fixed=dict(zip(at, values / world[at], strict=True)), sums=sums,
                          penalties=penalties)
        tonnes = np.round(share * world, 3)
        tonnes[at] = values
        frames[dest] = (tonnes, _status(dest_months, pos, n),
                        _sources(dest_months, pos, n, METHOD_SHARE))
    other = np.round(world - sum(frames[d][0] for d in frames if d != WORLD), 3)
    known = np.logical_and.reduce([status != ESTIMATED for _, status, _ in frames.values()])
    parts = " ".join(d for d in frames if d != WORLD)
    frames[OTHER] = (other, np.where(known, DERIVED, ESTIMATED),
                     np.where(known, OTHER_KNOWN.format(parts=parts),
                              METHOD_OTHER.format(parts=parts)).astype(object))
    panel = pd.concat([
        pd.DataFrame({"destination": name, "month": months, "tonnes": tonnes,
                      "status": status, "source": src})
        for name, (tonnes, status, src) in frames.items()], ignore_index=True)
    negative = panel[panel["tonnes"] < 0]
    if not negative.empty:
        row = negative.iloc[0]
        raise ValueError(f"negative tonnes {row['tonnes']} for {row['destination']} "
                         f"{row['month']} ({row['source']})")
    return panel


def _grid(obs: pd.DataFrame) -> pd.Index:
    """Months "YYYY-MM" from WORLD's first figure to the last figure of any series."""
    world_months, world_sums = _chosen(obs, WORLD)
    chosen = obs[obs["chosen"]]
    first = min(world_months["start"].min(), world_sums["start"].min())
    last = chosen.loc[chosen["series"].isin((MONTHLY, *SUM_SERIES)), "end"].max()
    return pd.Index(pd.period_range(first, last, freq="M").strftime("%Y-%m"))


def _world(obs: pd.DataFrame, months: pd.Index, *, rounds: int,
           ) -> tuple[np.ndarray, np.ndarray]:
    """WORLD over `months` (rounded to 0.001 t, known months exact) and its seasonal factors."""
    world_months, world_sums = _chosen(obs, WORLD)
    pos = pd.Series(np.arange(len(months)), index=months)
    at = pos[world_months["start"]].to_numpy()
    sums, penalties = _sum_constraints(world_sums, months, np.ones(len(months)))
    calendar = pd.PeriodIndex(months, freq="M").month.to_numpy() - 1
    world, factors = seasonal_benchmark(
        calendar, sums=sums, penalties=penalties, rounds=rounds,
        fixed=dict(zip(at, world_months["tonnes"], strict=True)),
        unseasonal=pos.reindex(UNSEASONAL).dropna().astype(int))
    world = np.round(world, 3)
    world[at] = world_months["tonnes"].to_numpy()
    return world, factors


def seasonal_profile(obs: pd.DataFrame) -> pd.Series:
    """The twelve seasonal factors (index 1-12) learnt from the selected observations."""
    return pd.Series(_world(obs, _grid(obs), rounds=ROUNDS)[1], index=range(1, 13))


def selected_observations(sources_dir: Path = SOURCES_DIR, *,
                          as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Sourced observations known at `as_of` (all: None) with the selection rule applied."""
    return _selected(str(sources_dir), None if as_of is None else f"{pd.Timestamp(as_of):%Y-%m}")


@lru_cache(maxsize=64)
def _selected(sources_dir: str, as_of: str | None) -> pd.DataFrame:
    """Observations known at `as_of` (all: None) with the selection rule applied (cached:
    backtests rebuild often)."""
    obs = read_observations(Path(sources_dir))
    return select_reported(obs if as_of is None else known_at(obs, pd.Timestamp(as_of)))


def _status(rows: pd.DataFrame, pos: pd.Series, n: int) -> np.ndarray:
    """Status column: the chosen figure's status (reported/derived), estimated elsewhere."""
    out = np.full(n, ESTIMATED, dtype=object)
    out[pos[rows["start"]].to_numpy()] = rows["status"].to_numpy()
    return out


def _sources(rows: pd.DataFrame, pos: pd.Series, n: int, method: str) -> np.ndarray:
    """Source column: the chosen URL on reported/derived months, the method elsewhere."""
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


def long_panel(obs: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """The long panel (unique_id, ds, y, status) build_panel makes from selected observations
    (as bundled_panel_at, for observations read elsewhere, e.g. the figure store)."""
    return _long(_as_text(build_panel(obs)).astype({"month": str}), source=source)


def estimated_share(panel: pd.DataFrame, *, id_col: str = ID_COL,
                    status_col: str = STATUS_COL) -> pd.DataFrame:
    """Months per status and the estimated share per series (in order of first appearance)."""
    status = panel[status_col]
    table = pd.DataFrame({"months": panel.groupby(id_col, sort=False).size()})
    for name in STATUSES:
        table[name] = status.eq(name).groupby(panel[id_col], sort=False).sum()
    table["estimated_share"] = (table[ESTIMATED] / table["months"]).round(3)
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
