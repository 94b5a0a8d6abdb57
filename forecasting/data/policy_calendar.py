"""Load and validate the dated policy-event calendar (bundled CSV or scenario events)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pycountry

from forecasting.schema import InputError

SOURCES_DIR = Path(__file__).parent / "bundled" / "sources"
POLICY_EVENTS_PATH = SOURCES_DIR / "policy_events.csv"

DATE_COLUMNS: tuple[str, ...] = ("announced", "effective", "ends")
REQUIRED_COLUMNS: tuple[str, ...] = (
    "announced", "effective", "kind", "direction", "magnets", "destinations")
TEXT_COLUMNS: tuple[str, ...] = ("title", "detail", "scope", "source_url")
EVENT_COLUMNS: tuple[str, ...] = (
    "announced", "effective", "ends", "kind", "direction", "magnets", "destinations",
    *TEXT_COLUMNS)

KINDS: frozenset[str] = frozenset({
    "export_control", "technology_ban", "entity_list", "truce", "suspension", "licence",
    "statement", "dialogue"})
DIRECTIONS: frozenset[str] = frozenset({"tighten", "ease", "neutral"})
MAGNETS: frozenset[str] = frozenset({"yes", "partial", "no"})
ALL_DESTINATIONS = "ALL"
# Aggregates the sources name that are not ISO 3166 countries (EU-27 is reserved in ISO 3166-1).
AGGREGATE_CODES: frozenset[str] = frozenset({"EU"})


def _parse_date(value: object, *, source: object, row: int, column: str,
                required: bool) -> pd.Timestamp:
    """Parse one cell to a day-precision timestamp (NaT for an empty optional cell)."""
    if value is None or (isinstance(value, str) and not value.strip()) or (
            not isinstance(value, str) and pd.isna(value)):
        if required:
            raise InputError(source, "date is empty", row=row, column=column)
        return pd.NaT
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError) as err:
        raise InputError(source, f"cannot parse date {value!r}", row=row, column=column) from err


def _check_destinations(value: object, *, source: object, row: int) -> str:
    """Return "ALL" or the space-separated ISO-2 codes, upper-cased; raise on unknown codes."""
    codes = str(value).upper().split() if isinstance(value, str) else []
    if not codes:
        raise InputError(source, "destinations is empty", row=row, column="destinations")
    if codes == [ALL_DESTINATIONS]:
        return ALL_DESTINATIONS
    for code in codes:
        known = code in AGGREGATE_CODES or (
            len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None)
        if not known:
            raise InputError(source, f"destination {code!r} is not ALL or a known ISO-2 code",
                             row=row, column="destinations")
    return " ".join(codes)


def validate_policy_events(df: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """Validate policy events (row = 0-based position in `df`); return them typed, in file order."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(source, f"policy events lack column(s) {missing}", column=missing[0])
    out = df.reset_index(drop=True).copy()
    for col in ("ends", *TEXT_COLUMNS):
        if col not in out.columns:
            out[col] = pd.NaT if col == "ends" else ""
    rows: list[dict[str, object]] = []
    for i, rec in enumerate(out.to_dict("records")):
        dates = {c: _parse_date(rec[c], source=source, row=i, column=c, required=c != "ends")
                 for c in DATE_COLUMNS}
        if pd.notna(dates["ends"]) and dates["ends"] <= dates["effective"]:
            raise InputError(source, f"ends {dates['ends'].date()} is not after effective "
                             f"{dates['effective'].date()}", row=i, column="ends")
        for col, allowed in (("kind", KINDS), ("direction", DIRECTIONS), ("magnets", MAGNETS)):
            value = str(rec[col]).strip().lower()
            if value not in allowed:
                raise InputError(source, f"{col} {rec[col]!r} not in {sorted(allowed)}", row=i,
                                 column=col)
            rec[col] = value
        rec["destinations"] = _check_destinations(rec["destinations"], source=source, row=i)
        for col in TEXT_COLUMNS:
            rec[col] = "" if rec[col] is None or pd.isna(rec[col]) else str(rec[col])
        rows.append({**rec, **dates})
    events = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    for col in DATE_COLUMNS:
        events[col] = pd.to_datetime(events[col]).astype("datetime64[ns]")
    return events


def load_policy_events(path: str | Path | None = None) -> pd.DataFrame:
    """Read a policy-event CSV (default: the bundled calendar) and validate it."""
    path = Path(path) if path is not None else POLICY_EVENTS_PATH
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return validate_policy_events(df, source=path)
