"""Read every sourced tonnage figure and choose one value where sources disagree.

Each figure has a status: `reported` (as a source prints it) or `derived` (computed by this
project from a reported figure and a reported percentage, `kind=derived` in
magnet_figures_added.csv), and a publication month (`published_date` where the source file
gives one, else the month after the period ends).

Selection rule, per (destination, period) of a modelled magnet figure (a month, a
year-to-date sum or an annual total; an annual total is the sum 01..12 of its year):
0. a reported figure beats a derived one: derived figures compete only where no reported
   figure exists for that destination and period;
1. cluster the values: sorted values whose neighbours differ by at most max(1 t, 0.2%)
   are one figure up to rounding (single linkage);
2. choose the cluster with the most distinct source URLs; ties: the cluster with a source whose
   title or URL cites Reuters, customs or GACC (project annotations in [brackets] ignored);
   then the cluster whose first row comes first in the source files;
3. within the cluster, the most precise value (most decimals as written); ties: the value given
   by most sources; then one given by a Reuters/customs/GACC source; then file order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.products import NAME, product_key
from forecasting.schema import DEFAULT_DESTINATIONS, DERIVED, REPORTED, WORLD, InputError

MAGNET_EXPORTS_FILE = "magnet_exports_reported.csv"
OTHER_SERIES_FILE = "other_series_reported.csv"
ADDED_FILE = "magnet_figures_added.csv"
OTHER_PRODUCTS_FILE = "other_rare_earth_figures_added.csv"  # not magnets: products of their own

MONTHLY = "magnets"
SUM_SERIES: tuple[str, ...] = ("magnets_ytd", "magnets_annual", "magnets_span")
MODELLED: tuple[str, ...] = (WORLD, *DEFAULT_DESTINATIONS)
PANEL_START = "2016-01"
ADDED_KINDS: dict[str, str] = {"monthly": REPORTED, "ytd": REPORTED,
                               "span": REPORTED, "derived": DERIVED}
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "series", "destination", "period", "tonnes", "status", "published", "source_title",
    "source_url", "chosen", "reason")

AUTHORITY_RE = re.compile(r"reuters|customs|gacc|海关|海關", re.IGNORECASE)
ANNOTATION_RE = re.compile(r"\[[^\]]*\]")
PERIOD_RE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:\.\.(\d{4})-(\d{2}))?$")
PUBLISHED_RE = re.compile(r"^((?:19|20)\d{2}-(?:0[1-9]|1[0-2]))(?:-\d{2})?\??$")

NOT_USED: dict[str, str] = {
    "magnets_and_magnet_alloys_annual": "magnets plus magnet alloys, a broader definition",
    "magnets_incl_powder_alloy": "magnets incl. powder/alloy, a broader definition",
}
AGGREGATES: dict[str, str] = {"EU": "EU-27 aggregate", "EUROPE": "wider-Europe aggregate"}
# (file, destination, period, tonnes as written) -> why a row labelled magnets is not one.
NOT_MAGNETS: dict[tuple[str, str, str, str], str] = {
    (MAGNET_EXPORTS_FILE, WORLD, "2025-10", "4343.5"):
        "China's headline rare-earth figure (September 4,000.3 t x 1.0858), not magnets",
}


def read_observations(sources_dir: Path) -> pd.DataFrame:
    """Every magnet tonnage row of the three sourced files (series "magnets*"), in file order,
    with its status (reported/derived) and publication month."""
    monthly = pd.read_csv(sources_dir / MAGNET_EXPORTS_FILE, dtype=str, keep_default_na=False)
    monthly = monthly.rename(columns={"month": "period", "product": "series"})
    other = pd.read_csv(sources_dir / OTHER_SERIES_FILE, dtype=str, keep_default_na=False)
    frames = []
    for name, df in ((MAGNET_EXPORTS_FILE, monthly), (OTHER_SERIES_FILE, other),
                     (ADDED_FILE, _read_added(sources_dir / ADDED_FILE))):
        df = df.assign(file=name, line=np.arange(len(df)) + 2)
        for column, default in (("status", REPORTED), ("published", "")):
            if column not in df.columns:
                df[column] = default
        frames.append(df.loc[:, ["series", "destination", "period", "tonnes", "status",
                                 "published", "source_title", "source_url", "file", "line"]])
    obs = pd.concat(frames, ignore_index=True)
    obs = obs[obs["series"].str.startswith("magnets")].reset_index(drop=True)
    numeric = obs["tonnes"].str.fullmatch(r"\d+(\.\d+)?")
    bad_magnet = ~numeric & obs["series"].isin((MONTHLY, *SUM_SERIES))
    if bad_magnet.any():
        row = obs[bad_magnet].iloc[0]
        raise InputError(sources_dir / row["file"], f"tonnes {row['tonnes']!r} is not a number",
                         row=int(row["line"]), column="tonnes")
    obs = obs[numeric].reset_index(drop=True)  # drops shares such as "~90%"
    obs["not_magnets"] = [NOT_MAGNETS.get(key, "") for key in zip(
        obs["file"], obs["destination"], obs["period"], obs["tonnes"], strict=True)]
    obs["decimals"] = obs["tonnes"].str.partition(".")[2].str.rstrip("0").str.len()
    obs["tonnes"] = obs["tonnes"].astype(float)
    bounds = [_period_bounds(p) for p in obs["period"]]
    obs["start"] = [b[0] for b in bounds]
    obs["end"] = [b[1] for b in bounds]
    after_end = [f"{pd.Period(e, 'M') + 1}" if e else "" for e in obs["end"]]
    obs["published"] = obs["published"].where(obs["published"] != "", after_end)
    obs["authority"] = [
        bool(AUTHORITY_RE.search(ANNOTATION_RE.sub("", t) + " " + u))
        for t, u in zip(obs["source_title"], obs["source_url"], strict=True)]
    return obs


def _checked_added(path: Path) -> pd.DataFrame:
    """A file of the added-figures layout (destination, period, tonnes, kind, url, quote,
    published_date, note), every period, kind and publication date checked."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, (period, kind, published) in enumerate(
            zip(df["period"], df["kind"], df["published_date"], strict=True)):
        if not _period_bounds(period)[0]:
            raise InputError(path, f"period {period!r} is not YYYY-MM or YYYY-MM..YYYY-MM",
                             row=i + 2, column="period")
        if kind not in ADDED_KINDS:
            raise InputError(path, f"kind {kind!r} is not one of {', '.join(ADDED_KINDS)}",
                             row=i + 2, column="kind")
        if published and not PUBLISHED_RE.match(published):
            raise InputError(path, f"published_date {published!r} is not YYYY-MM[-DD]",
                             row=i + 2, column="published_date")
    return df


def _read_added(path: Path) -> pd.DataFrame:
    """magnet_figures_added.csv in the common layout: series from the period, status from
    `kind`, publication month from `published_date`, the note as title."""
    df = _checked_added(path)
    bounds = [_period_bounds(p) for p in df["period"]]
    series = [MONTHLY if start == end
              else "magnets_annual" if start.endswith("-01") and end == f"{start[:4]}-12"
              else "magnets_ytd" if start.endswith("-01") else "magnets_span"
              for start, end in bounds]
    return pd.DataFrame({
        "series": series, "destination": df["destination"], "period": df["period"],
        "tonnes": df["tonnes"], "status": df["kind"].map(ADDED_KINDS),
        "published": [p[:7] for p in df["published_date"]],
        "source_title": df["note"], "source_url": df["url"]})


def read_other_products(path: Path) -> pd.DataFrame:
    """The figures of other_rare_earth_figures_added.csv (rare-earth lines that are not
    magnets), one row per figure: product (the label's key, `rare_earths_headline`),
    destination, start, end (YYYY-MM; equal for a monthly figure, else a year-to-date or span
    sum), tonnes, status (reported as printed, derived as computed), published (YYYY-MM: the
    published_date's month, else the month after the period), source_url. Where one product,
    destination and period has several figures, the first in file order is kept."""
    df = _checked_added(path)
    bounds = [_period_bounds(p) for p in df["period"]]
    tonnes = pd.to_numeric(df["tonnes"], errors="coerce")
    if tonnes.isna().any():
        i = int(tonnes.isna().to_numpy().argmax())
        raise InputError(path, f"tonnes {df['tonnes'].iloc[i]!r} is not a number", row=i + 2,
                         column="tonnes")
    products = [product_key(p) for p in df["product"]]
    for i, key in enumerate(products):
        if not NAME.fullmatch(key):
            raise InputError(path, f"product {key!r} is not a name (letters, digits, '_', '-', "
                             "'.') followed by an optional ' (description)'", row=i + 2,
                             column="product")
    after_end = [f"{pd.Period(end, 'M') + 1}" for _, end in bounds]
    out = pd.DataFrame({
        "product": products, "destination": df["destination"],
        "start": [b[0] for b in bounds], "end": [b[1] for b in bounds], "tonnes": tonnes,
        "status": df["kind"].map(ADDED_KINDS),
        "published": [p[:7] or a for p, a in zip(df["published_date"], after_end, strict=True)],
        "source_url": df["url"]})
    return out.drop_duplicates(["product", "destination", "start", "end"], ignore_index=True)


def _period_bounds(period: str) -> tuple[str, str]:
    """First and last month ("YYYY-MM") of "YYYY", "YYYY-MM" or "YYYY-MM..YYYY-MM"."""
    match = PERIOD_RE.match(period)
    if match is None:  # e.g. "2025-Q1": not a magnet tonnage period used here
        return "", ""
    year, month, end_year, end_month = match.groups()
    if end_year is not None:
        return f"{year}-{month}", f"{end_year}-{end_month}"
    if month is None:
        return f"{year}-01", f"{year}-12"
    return f"{year}-{month}", f"{year}-{month}"


def _same_figure(a: float, b: float) -> bool:
    """Equal up to rounding: |a - b| <= max(1 t, 0.2% of the larger)."""
    return abs(a - b) <= max(1.0, 0.002 * max(abs(a), abs(b)))


def _clusters(group: pd.DataFrame) -> list[pd.Index]:
    """Single-linkage clusters of a group's values (row labels, sorted by value)."""
    ordered = group.sort_values("tonnes", kind="stable")
    clusters: list[list[int]] = []
    previous = None
    for label, value in ordered["tonnes"].items():
        if previous is None or not _same_figure(previous, value):
            clusters.append([])
        clusters[-1].append(label)
        previous = value
    return [pd.Index(c) for c in clusters]


def _choose(group: pd.DataFrame) -> tuple[int, dict[int, str]]:
    """Label of the chosen row of one (destination, period) group and a reason for every row."""
    if len(group) == 1:  # most periods have one figure: nothing to weigh (and backtests rebuild)
        label = int(group.index[0])
        return label, {label: "chosen: 1 source(s) agree up to rounding"}
    clusters = _clusters(group)
    def rank(c: pd.Index) -> tuple[int, bool, int]:
        return -group.loc[c, "source_url"].nunique(), not group.loc[c, "authority"].any(), min(c)

    ranked = sorted(clusters, key=rank)
    best = ranked[0]
    rows = group.loc[best]
    votes = rows.groupby("tonnes")["source_url"].transform("nunique")
    key = pd.DataFrame({"dec": -rows["decimals"], "votes": -votes,
                        "auth": -rows["authority"].astype(int), "order": rows.index})
    chosen = int(key.sort_values(["dec", "votes", "auth", "order"]).index[0])
    value = group.loc[chosen, "tonnes"]
    n_best = group.loc[best, "source_url"].nunique()
    reasons = {}
    for cluster in clusters:
        n = group.loc[cluster, "source_url"].nunique()
        for label in cluster:
            if label == chosen:
                why = f"chosen: {n} source(s) agree up to rounding"
                if len(clusters) > 1:
                    runner = ranked[1]
                    won, lost = rank(best), rank(runner)
                    by = ("more sources" if won[0] != lost[0]
                          else "the Reuters/customs/GACC tie-break" if won[1] != lost[1]
                          else "file order")
                    why += f"; preferred over {group.loc[runner, 'tonnes'].iloc[0]:g} t by {by}"
                reasons[label] = why
            elif cluster is best:
                reasons[label] = f"same figure up to rounding as the chosen {value:g} t"
            else:
                reasons[label] = (f"conflicts with the chosen {value:g} t ({n} vs {n_best} "
                                  "source(s), see selection rule)")
    return chosen, reasons


def select_reported(obs: pd.DataFrame) -> pd.DataFrame:
    """Mark `chosen` and give a `reason` for every observation (see the module docstring)."""
    out = obs.copy()
    out["chosen"] = False
    out["reason"] = ""
    magnet = out["series"].isin((MONTHLY, *SUM_SERIES))
    early = magnet & (out["start"] < PANEL_START)
    wrong = out["not_magnets"] != ""
    modelled = magnet & out["destination"].isin(MODELLED) & ~early & ~wrong
    for series, text in NOT_USED.items():
        out.loc[out["series"] == series, "reason"] = f"not used: {text}"
    other_magnets = out["series"].str.startswith("magnets_alt_definition")
    out.loc[other_magnets, "reason"] = "not used: conflicting figure, likely a broader definition"
    unmodelled = magnet & ~out["destination"].isin(MODELLED)
    out.loc[unmodelled, "reason"] = [
        f"not used: {AGGREGATES[d]}, overlaps the modelled series" if d in AGGREGATES
        else f"not used: {d} is not modelled separately (it is part of OTHER)"
        for d in out.loc[unmodelled, "destination"]]
    out.loc[early & ~unmodelled, "reason"] = f"not used: before the panel starts ({PANEL_START})"
    out.loc[wrong, "reason"] = "not used: " + out.loc[wrong, "not_magnets"]
    for _, group in out[modelled].groupby(["destination", "start", "end"], sort=False):
        derived = group["status"] == DERIVED
        if not derived.all():
            out.loc[group.index[derived], "reason"] = (
                "not used: derived, a reported figure exists for this period")
            group = group[~derived]
        chosen, reasons = _choose(group)
        out.loc[chosen, "chosen"] = True
        out.loc[list(reasons), "reason"] = list(reasons.values())
    return out


def observations_table(obs: pd.DataFrame) -> pd.DataFrame:
    """The public observations table: one row per sourced figure with chosen/reason."""
    return obs.loc[:, list(OBSERVATION_COLUMNS)]
