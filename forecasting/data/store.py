"""A SQLite store of every figure with the date it became known (its vintage); never deleted.

Each row of `figures` is one figure as a source gave it on one date: product, series id,
period (`first_month`..`month`: one month, or a year-to-date or annual sum), value, status
(reported or derived: estimates are computed from the figures when a panel is built, never
stored), vintage (YYYY-MM-DD), source and the ingest that added it.
A revision is a new row with a later vintage; nothing is updated or deleted (triggers refuse
it). Two rows of the same cell and vintage with different values are a conflict: the later
ingest wins at that vintage.

The panel as known at cutoff month M holds, per cell up to M, the latest figure with vintage
on or before `knowledge_date(M)`, the last day of M's release month (M+1): the bundle's rule
(`bundle.known_at`: a figure published by the month after the cutoff) stated in dates.

The bundled figures are the first content, seeded on first use: every chosen monthly figure
of the sourced files (bundle's selection rule), dated by its publication month (its last
day, the rule compares months); where a later publication changed the chosen value, the
change is a revision at that later date. The bundle's year-to-date and annual sums are
stored too (a period longer than a month). The other rare-earth lines of the bundle (not
magnets: the headline rare-earth figure, ...) are seeded as products of their own, dated by
their publication month; a store seeded before them gets them the first time it is opened.

While the figures of a product are bundle-shaped (WORLD and the six destinations only, no
partner-level file ingested), the panel known at a cutoff is built as the bundle builds it
(`bundle.build_panel`: the monthly figures fixed, the sums as constraints, the seasonal
benchmark for the rest), so the seeded store gives exactly the bundled panel at every cutoff.
Otherwise the monthly figures are the raw panel, completed as a plain file is.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.bundle import SOURCES_DIR, long_panel
from forecasting.data.hierarchy import partners
from forecasting.data.products import PRODUCT_COL, keyed
from forecasting.data.reported import (
    MODELLED,
    MONTHLY,
    OTHER_PRODUCTS_FILE,
    SUM_SERIES,
    read_observations,
    read_other_products,
    select_reported,
)
from forecasting.schema import (
    DERIVED,
    ID_COL,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
)

DEFAULT_STORE = "magnets.db"  # under the working directory
DEFAULT_PRODUCT = "magnets"
STORED: tuple[str, ...] = (REPORTED, DERIVED)
VINTAGES: tuple[str, ...] = ("first", "latest")
VINTAGE_COL, INGEST_COL, SOURCE_COL = "vintage", "ingest", "source"
FIRST_COL = "first_month"  # a sum's first month; a monthly figure's is its month
BUSY_TIMEOUT_S = 60.0  # a concurrent ingest waits this long for the write lock
DECIMALS = 6  # values are compared and stored rounded to a milligram of a tonne
ABSENT_IS_ZERO = ("customs", "comtrade")  # partner-by-partner files: an absent partner shipped 0

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS ingests (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        product TEXT NOT NULL,
        vintage TEXT,
        ingested_at TEXT NOT NULL,
        n_new INTEGER NOT NULL, n_revised INTEGER NOT NULL, n_conflicts INTEGER NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS figures (
        id INTEGER PRIMARY KEY,
        product TEXT NOT NULL,
        series TEXT NOT NULL,
        first_month TEXT NOT NULL,
        month TEXT NOT NULL,
        value REAL NOT NULL,
        status TEXT NOT NULL CHECK (status IN {STORED!r}),
        vintage TEXT NOT NULL,
        source TEXT NOT NULL,
        ingest_id INTEGER NOT NULL REFERENCES ingests(id),
        UNIQUE (product, series, first_month, month, vintage, value, status))""",
    "CREATE INDEX IF NOT EXISTS figures_cell ON figures (product, series, month, vintage)",
    """CREATE TRIGGER IF NOT EXISTS figures_never_deleted BEFORE DELETE ON figures
        BEGIN SELECT RAISE(ABORT, 'figures are never deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS figures_never_updated BEFORE UPDATE ON figures
        BEGIN SELECT RAISE(ABORT, 'figures are never updated: add a new vintage'); END""",
)


def knowledge_date(as_of: pd.Timestamp) -> pd.Timestamp:
    """The last vintage seen at cutoff month `as_of`: the last day of the month after it."""
    return (pd.Period(as_of, "M") + 1).end_time.normalize()


def default_store_path() -> Path:
    """`magnets.db` under the working directory."""
    return Path.cwd() / DEFAULT_STORE


@contextlib.contextmanager
def _transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A write transaction (BEGIN IMMEDIATE: one writer at a time, others wait) on the store
    with its schema and seed in place; committed on success, rolled back on any error."""
    if not path.parent.is_dir():
        raise InputError(path, "the store's directory does not exist (data.store / --store)")
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        try:
            con.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:  # not executescript: it would commit the transaction
                con.execute(statement)
            empty = con.execute("SELECT COUNT(*) FROM ingests").fetchone()[0] == 0
        except sqlite3.DatabaseError as err:  # not SQLite, a foreign schema, locked too long
            raise InputError(path, f"not a usable figure store ({err})") from err
        try:
            if empty:
                _seed(con)
            _seed_other_products(con)
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


def _insert_ingest(con: sqlite3.Connection, *, file: str, sha256: str, fmt: str, product: str,
                   vintage: str | None, counts: tuple[int, int, int]) -> int:
    cur = con.execute(
        "INSERT INTO ingests (file, sha256, format, product, vintage, ingested_at, n_new, "
        "n_revised, n_conflicts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file, sha256, fmt, product, vintage, datetime.now(UTC).isoformat(timespec="seconds"),
         *counts))
    return int(cur.lastrowid)


def _insert_figures(con: sqlite3.Connection, rows: pd.DataFrame, *, product: str,
                    ingest_id: int) -> None:
    first = rows[FIRST_COL] if FIRST_COL in rows.columns else rows[TIME_COL]
    con.executemany(
        "INSERT INTO figures (product, series, first_month, month, value, status, vintage, "
        "source, ingest_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(product, uid, f"{start:%Y-%m}", f"{ds:%Y-%m}", float(y), status, f"{v:%Y-%m-%d}",
          src, ingest_id)
         for uid, start, ds, y, status, v, src in zip(
             rows[ID_COL], first, rows[TIME_COL], rows[TARGET_COL], rows[STATUS_COL],
             rows[VINTAGE_COL], rows[SOURCE_COL], strict=True)])


def _seed(con: sqlite3.Connection) -> None:
    """Add the bundled figures as the store's first ingest."""
    rows = bundled_figures()
    ingest_id = _insert_ingest(con, file=str(SOURCES_DIR), sha256=_frame_hash(rows),
                               fmt="bundled", product=DEFAULT_PRODUCT, vintage=None,
                               counts=(len(rows), 0, 0))
    _insert_figures(con, rows, product=DEFAULT_PRODUCT, ingest_id=ingest_id)


def _seed_other_products(con: sqlite3.Connection) -> None:
    """Add the bundled figures of the other rare-earth lines (one ingest per product), once:
    in a new store after the magnets, in an older store the first time it is opened."""
    file = str(SOURCES_DIR / OTHER_PRODUCTS_FILE)
    if con.execute("SELECT COUNT(*) FROM ingests WHERE file = ?", (file,)).fetchone()[0]:
        return
    for product, rows in other_product_figures().groupby(PRODUCT_COL, sort=True):
        ingest_id = _insert_ingest(con, file=file, sha256=_frame_hash(rows), fmt="bundled",
                                   product=str(product), vintage=None,
                                   counts=(len(rows), 0, 0))
        _insert_figures(con, rows, product=str(product), ingest_id=ingest_id)


def _frame_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


@lru_cache(maxsize=1)
def bundled_figures() -> pd.DataFrame:
    """The bundled figures (months and sums) with their vintages: for each (destination,
    period), the value chosen by the selection rule among the figures published by each
    publication month, kept where it changed (the first choice, then revisions)."""
    obs = read_observations(SOURCES_DIR)
    obs = obs[obs["series"].isin((MONTHLY, *SUM_SERIES)) & obs["destination"].isin(MODELLED)]
    final = select_reported(obs)  # one pass for every cell; earlier choices where they differ
    rows = []
    for _, group in final.groupby(["destination", "start", "end"], sort=True):
        previous = None
        published = sorted(group["published"].unique())
        for month in published:
            chosen = group if month == published[-1] else select_reported(
                obs.loc[group.index[group["published"] <= month]])
            chosen = chosen[chosen["chosen"]]
            if chosen.empty:
                continue  # before the panel starts, or not a magnet figure
            row = chosen.iloc[0]
            figure = (round(float(row["tonnes"]), DECIMALS), row["status"])
            if figure != previous:
                rows.append((row["destination"], row["start"], row["end"], *figure, month,
                             row["source_url"]))
                previous = figure
    out = pd.DataFrame(rows, columns=[ID_COL, FIRST_COL, TIME_COL, TARGET_COL, STATUS_COL,
                                      VINTAGE_COL, SOURCE_COL])
    for col in (FIRST_COL, TIME_COL):
        out[col] = pd.to_datetime(out[col], format="%Y-%m")
    out[VINTAGE_COL] = pd.PeriodIndex(out[VINTAGE_COL], freq="M").asfreq(
        "D", how="end").to_timestamp()
    return out


@lru_cache(maxsize=1)
def other_product_figures() -> pd.DataFrame:
    """The bundled figures of the rare-earth lines that are not magnets (headline rare earths,
    oxides, India's magnet imports, ...), each its own product: months and sums as printed
    (reported) or computed (derived), dated by their publication month (its last day)."""
    obs = read_other_products(SOURCES_DIR / OTHER_PRODUCTS_FILE)
    out = pd.DataFrame({
        PRODUCT_COL: obs["product"], ID_COL: obs["destination"],
        FIRST_COL: pd.to_datetime(obs["start"], format="%Y-%m"),
        TIME_COL: pd.to_datetime(obs["end"], format="%Y-%m"),
        TARGET_COL: obs["tonnes"].round(DECIMALS), STATUS_COL: obs["status"],
        VINTAGE_COL: pd.PeriodIndex(obs["published"], freq="M").asfreq(
            "D", how="end").to_timestamp(),
        SOURCE_COL: obs["source_url"]})
    return out


def read_figures(path: Path, product: str = DEFAULT_PRODUCT, *,
                 sums: bool = False) -> pd.DataFrame:
    """Every stored monthly figure (with `sums`: and sum) of `product`: unique_id,
    first_month, ds (the period's last month), y, status, vintage, ingest, source (the store
    is created and seeded with the bundled figures on first use)."""
    with _transaction(Path(path)) as con:
        return _figures(con, product, sums=sums)


def _figures(con: sqlite3.Connection, product: str, *, sums: bool = False) -> pd.DataFrame:
    frame = pd.read_sql_query(
        "SELECT series, first_month, month, value, status, vintage, ingest_id, source "
        "FROM figures WHERE product = ?" + ("" if sums else " AND first_month = month")
        + " ORDER BY series, first_month, month, vintage, ingest_id", con, params=(product,))
    frame.columns = [ID_COL, FIRST_COL, TIME_COL, TARGET_COL, STATUS_COL, VINTAGE_COL,
                     INGEST_COL, SOURCE_COL]
    for col in (FIRST_COL, TIME_COL):
        frame[col] = pd.to_datetime(frame[col], format="%Y-%m")
    frame[VINTAGE_COL] = pd.to_datetime(frame[VINTAGE_COL], format="%Y-%m-%d")
    return frame


@dataclass(frozen=True)
class VintagedFigures:
    """The stored figures of one product, readable as known at any cutoff month."""

    figures: pd.DataFrame  # months and sums, sorted by cell, vintage, ingest
    source: str = "<store>"
    product: str = DEFAULT_PRODUCT
    _cache: dict[tuple[pd.Timestamp | None, bool], pd.DataFrame] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def last_month(self) -> pd.Timestamp:
        """The latest month with a monthly figure."""
        return self.figures.loc[self._monthly(self.figures), TIME_COL].max()

    @property
    def bundle_shaped(self) -> bool:
        """Magnets, with WORLD and the bundle's destinations only: built as the bundle is."""
        ids = self.figures[ID_COL]
        return (self.product == DEFAULT_PRODUCT and bool(ids.isin(MODELLED).all())
                and bool(ids.eq(WORLD).any()))

    @staticmethod
    def _monthly(rows: pd.DataFrame) -> pd.Series:
        return rows[FIRST_COL] == rows[TIME_COL]

    def known_at(self, as_of: pd.Timestamp | None, *, first: bool = False) -> pd.DataFrame:
        """The panel (unique_id, ds, y, status) as known at cutoff month `as_of`: periods
        ended by it, vintages up to its knowledge date (None: every figure). Per period the
        latest figure, or with `first=True` the first published one (the later ingest wins at
        one vintage). Bundle-shaped figures give the bundle's panel (sums used, estimates
        filled); otherwise the monthly figures as they are."""
        key = (as_of, first)
        if key not in self._cache:
            self._cache[key] = self._known_at(as_of, first=first)
        return self._cache[key]

    def _known_at(self, as_of: pd.Timestamp | None, *, first: bool) -> pd.DataFrame:
        rows = self.figures
        if as_of is not None:
            rows = rows.loc[(rows[TIME_COL] <= as_of)
                            & (rows[VINTAGE_COL] <= knowledge_date(as_of))]
        if not self._monthly(rows).any():
            raise InputError(self.source, f"no figures known at {as_of:%Y-%m}")
        cell = [ID_COL, FIRST_COL, TIME_COL]
        if first:
            rows = rows.loc[rows[VINTAGE_COL] == rows.groupby(cell)[VINTAGE_COL].transform("min")]
        rows = rows.groupby(cell, sort=False).tail(1)  # sorted by vintage, ingest
        if self.bundle_shaped:
            return long_panel(_observations(rows), source=self.source)
        rows = rows.loc[self._monthly(rows)]
        return rows[[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]].sort_values(
            [ID_COL, TIME_COL], ignore_index=True)


def _observations(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored figures as the chosen observations bundle.build_panel reads."""
    monthly = rows[FIRST_COL] == rows[TIME_COL]
    return pd.DataFrame({
        "destination": rows[ID_COL].to_numpy(),
        "series": np.where(monthly, MONTHLY, SUM_SERIES[-1]),
        "start": rows[FIRST_COL].dt.strftime("%Y-%m").to_numpy(),
        "end": rows[TIME_COL].dt.strftime("%Y-%m").to_numpy(),
        "tonnes": rows[TARGET_COL].to_numpy(), "status": rows[STATUS_COL].to_numpy(),
        "source_url": rows[SOURCE_COL].to_numpy(), "chosen": True})


def open_figures(path: Path, product: str = DEFAULT_PRODUCT, *,
                 setting: str = "data.product") -> VintagedFigures:
    """The store's figures of `product` (InputError naming `setting` when it holds none)."""
    figures = read_figures(path, product, sums=True)
    if figures.empty:
        raise InputError(path, f"the store holds no figures of product {product!r} "
                         f"({setting}); ingest a file with forecast-ingest --product",
                         column=setting)
    return VintagedFigures(figures=figures, source=str(path), product=product)


@dataclass(frozen=True)
class ProductFigures:
    """The stored figures of several products, read as one panel with ids keyed
    `<product>/<id>` (forecasting.data.products); each product as VintagedFigures reads it."""

    parts: tuple[VintagedFigures, ...]
    source: str = "<store>"

    @property
    def last_month(self) -> pd.Timestamp:
        """The latest month with a monthly figure of any product."""
        return max(part.last_month for part in self.parts)

    def known_at(self, as_of: pd.Timestamp | None, *, first: bool = False) -> pd.DataFrame:
        """Every product's panel as known at cutoff month `as_of` (VintagedFigures.known_at),
        ids keyed by product."""
        return pd.concat([keyed(part.known_at(as_of, first=first), part.product)
                          for part in self.parts], ignore_index=True)


@dataclass
class IngestReport:
    """What an ingest found: new figures, revisions, conflicts, and what it left alone."""

    file: str
    vintage: pd.Timestamp
    product: str
    new: pd.DataFrame
    revised: pd.DataFrame
    conflicts: pd.DataFrame
    unchanged: int
    skipped: int
    ingest_id: int | None = None
    previous: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the ingest added anything to the store."""
        return self.ingest_id is not None


def _cells(frame: pd.DataFrame) -> pd.Series:
    return frame[ID_COL].astype(str) + " " + frame[TIME_COL].dt.strftime("%Y-%m")


def format_report(report: IngestReport, *, limit: int = 50) -> str:
    """The ingest report as printed by forecast-ingest (at most `limit` rows per list)."""
    head = (f"{report.file}: vintage {report.vintage:%Y-%m-%d}, product {report.product}")
    lines = [head]

    def listed(title: str, frame: pd.DataFrame, text: pd.Series) -> None:
        lines.append(f"{title}: {len(frame)}")
        lines.extend(f"  {t}" for t in text.iloc[:limit])
        if len(frame) > limit:
            lines.append(f"  ... {len(frame) - limit} more")

    new = report.new
    listed("new", new, _cells(new) + ": " + new[TARGET_COL].map("{:g}".format)
           + " (" + new[STATUS_COL] + ")")
    rev = report.revised
    change = rev[TARGET_COL] - rev["old"]
    pct = (100 * change / rev["old"].where(rev["old"] != 0)).map(
        lambda p: "" if pd.isna(p) else f", {p:+.1f}%")
    listed("revised", rev, _cells(rev) + ": " + rev["old"].map("{:g}".format) + " -> "
           + rev[TARGET_COL].map("{:g}".format) + " (" + change.map("{:+g}".format) + pct
           + ")")
    con = report.conflicts
    listed("conflicts (same vintage, different value; the later ingest wins)", con,
           _cells(con) + ": stored " + con["old"].map("{:g}".format) + ", this file "
           + con[TARGET_COL].map("{:g}".format))
    lines.append(f"unchanged: {report.unchanged} (already known, not stored again)")
    if report.skipped:
        lines.append(f"skipped: {report.skipped} empty or estimated cells (estimates are "
                     "computed, never stored)")
    if report.changed:
        lines.append(f"stored as ingest {report.ingest_id}")
    else:
        seen = "; ".join(f"ingest {i} on {at}" for i, at in report.previous)
        lines.append("nothing changed: the store already holds every figure of this file"
                     + (f" (same file as {seen})" if seen else ""))
    return "\n".join(lines)


def _with_absent_zeros(panel: pd.DataFrame, known: pd.DataFrame, source: str) -> pd.DataFrame:
    """A customs/Comtrade file lists every partner that traded: a partner known to the store
    or the file but absent from one of the file's months shipped 0 t that month."""
    ids = partners(pd.concat([panel, known[[ID_COL]]], ignore_index=True))
    grid = pd.MultiIndex.from_product([ids, panel[TIME_COL].unique()],
                                      names=[ID_COL, TIME_COL]).to_frame(index=False)
    absent = grid.merge(panel[[ID_COL, TIME_COL]], how="left", indicator=True)
    absent = absent.loc[absent["_merge"] == "left_only", [ID_COL, TIME_COL]]
    zeros = absent.assign(**{TARGET_COL: 0.0, STATUS_COL: REPORTED,
                             SOURCE_COL: f"{source} (partner absent: 0 t)"})
    return pd.concat([panel.assign(**{SOURCE_COL: source}), zeros], ignore_index=True)


def _classify(incoming: pd.DataFrame, stored: pd.DataFrame, vintage: pd.Timestamp,
              ) -> pd.DataFrame:
    """Each incoming figure with `kind` new, revised, conflict or unchanged and `old`, the
    value known at `vintage` (the latest stored figure with vintage <= it)."""
    cell = [ID_COL, TIME_COL]
    same = stored.loc[stored[VINTAGE_COL] == vintage]
    identical = incoming.merge(same[[*cell, TARGET_COL, STATUS_COL]].drop_duplicates(),
                               how="left", indicator=True)["_merge"].eq("both").to_numpy()
    known = stored.loc[stored[VINTAGE_COL] <= vintage].groupby(cell).tail(1)
    out = incoming.merge(known[[*cell, TARGET_COL, STATUS_COL]].rename(
        columns={TARGET_COL: "old", STATUS_COL: "old_status"}), on=cell, how="left")
    has_same = out.merge(same[cell].drop_duplicates(), how="left", indicator=True)[
        "_merge"].eq("both").to_numpy()
    equal = (out["old"] == out[TARGET_COL]) & (out["old_status"] == out[STATUS_COL])
    out["kind"] = np.select(
        [identical | equal.to_numpy(), has_same, out["old"].notna().to_numpy()],
        ["unchanged", "conflict", "revised"], default="new")
    return out


def ingest(store: Path, panel: pd.DataFrame, *, file: Path, fmt: str, vintage: pd.Timestamp,
           product: str = DEFAULT_PRODUCT) -> IngestReport:
    """Add a loaded file's figures as of `vintage` in one transaction; report what changed.

    Empty and estimated cells are skipped; figures equal to what the store knew at `vintage`
    are not stored again, so ingesting the same file twice changes nothing.
    """
    vintage = pd.Timestamp(vintage).normalize()
    keep = panel[TARGET_COL].notna() & panel[STATUS_COL].isin(STORED)
    late = panel.loc[keep, TIME_COL].max()
    if pd.notna(late) and late + pd.offsets.MonthEnd(0) >= vintage:
        raise InputError(file, f"figures for {late:%Y-%m} cannot have been known on "
                         f"{vintage:%Y-%m-%d}, before that month ended; pass a later --vintage",
                         column="--vintage")
    incoming = panel.loc[keep, [ID_COL, TIME_COL, TARGET_COL, STATUS_COL]].copy()
    incoming[TARGET_COL] = incoming[TARGET_COL].round(DECIMALS)
    sha = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    with _transaction(Path(store)) as con:
        stored = _figures(con, product)
        if fmt in ABSENT_IS_ZERO:
            incoming = _with_absent_zeros(incoming, stored, str(file))
        else:
            incoming[SOURCE_COL] = str(file)
        out = _classify(incoming, stored, vintage)
        parts = {kind: out.loc[out["kind"] == kind].reset_index(drop=True)
                 for kind in ("new", "revised", "conflict")}
        report = IngestReport(
            file=str(file), vintage=vintage, product=product, new=parts["new"],
            revised=parts["revised"], conflicts=parts["conflict"],
            unchanged=int((out["kind"] == "unchanged").sum()), skipped=int((~keep).sum()),
            previous=[(int(i), at) for i, at in con.execute(
                "SELECT id, ingested_at FROM ingests WHERE sha256 = ? ORDER BY id", (sha,))])
        add = out.loc[out["kind"] != "unchanged"].assign(**{VINTAGE_COL: vintage})
        if not add.empty:
            report.ingest_id = _insert_ingest(
                con, file=str(file), sha256=sha, fmt=fmt, product=product,
                vintage=f"{vintage:%Y-%m-%d}",
                counts=(len(parts["new"]), len(parts["revised"]), len(parts["conflict"])))
            _insert_figures(con, add, product=product, ingest_id=report.ingest_id)
    return report
