"""Column names, frequency, status values and the one input-error type shared by every module."""

from __future__ import annotations

import pandas as pd

ID_COL = "unique_id"
TIME_COL = "ds"
TARGET_COL = "y"
STATUS_COL = "status"
CUTOFF_COL = "cutoff"

FREQ = "MS"
SEASON_LENGTH = 12
LEVELS: tuple[int, ...] = (80, 95)

REPORTED = "reported"
ESTIMATED = "estimated"
DERIVED = "derived"  # computed from reported figures (a reported figure and a reported percent)
STATUSES: tuple[str, ...] = (REPORTED, DERIVED, ESTIMATED)

WORLD = "WORLD"
OTHER = "OTHER"
DEFAULT_DESTINATIONS: tuple[str, ...] = ("DE", "US", "KR", "JP", "IN", "VN")

PANEL_COLUMNS: tuple[str, ...] = (ID_COL, TIME_COL, TARGET_COL, STATUS_COL)


def lo_col(model: str, level: int) -> str:
    """Name of the lower interval column of `model` at `level` (statsforecast convention)."""
    return f"{model}-lo-{level}"


def hi_col(model: str, level: int) -> str:
    """Name of the upper interval column of `model` at `level` (statsforecast convention)."""
    return f"{model}-hi-{level}"


class InputError(ValueError):
    """Bad input a person can act on: one line naming the file, the row and the column."""

    def __init__(self, file: object, message: str, *, row: int | None = None,
                 column: str | None = None) -> None:
        self.file, self.row, self.column, self.message = str(file), row, column, message
        where = [self.file]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


def month_start(values: pd.Series | pd.Index) -> pd.Series:
    """Normalise timestamps to month starts (freq 'MS')."""
    return pd.to_datetime(pd.Series(values)).dt.to_period("M").dt.to_timestamp()


def validate_panel(df: pd.DataFrame, *, source: object = "<panel>",
                   nonnegative: bool = True) -> pd.DataFrame:
    """Check the panel contract (ds month starts, y >= 0 or NaN, known status); return it sorted.

    `nonnegative=False` lets y be any real (the long format's files may hold negatives).
    """
    missing = [c for c in PANEL_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(source, f"panel lacks column(s) {missing}", column=missing[0])
    out = df.loc[:, list(PANEL_COLUMNS)].copy()
    out[TIME_COL] = pd.to_datetime(out[TIME_COL])
    stamps = out[TIME_COL].to_numpy()
    not_start = pd.Series(stamps.astype("datetime64[M]") != stamps, index=out.index)
    if not_start.any():
        i = int(not_start.to_numpy().argmax())
        raise InputError(source, f"ds {out[TIME_COL].iloc[i]} is not a month start", row=i,
                         column=TIME_COL)
    y = pd.to_numeric(out[TARGET_COL], errors="coerce")
    bad = (y < 0) & nonnegative
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(source, f"negative tonnes {y.iloc[i]}", row=i, column=TARGET_COL)
    out[TARGET_COL] = y.astype(float)
    bad_status = ~out[STATUS_COL].isin(STATUSES)
    if bad_status.any():
        i = int(bad_status.to_numpy().argmax())
        raise InputError(source, f"status {out[STATUS_COL].iloc[i]!r} not in {STATUSES}", row=i,
                         column=STATUS_COL)
    dup = out.duplicated([ID_COL, TIME_COL])
    if dup.any():
        i = int(dup.to_numpy().argmax())
        raise InputError(source, "duplicate destination-month", row=i, column=TIME_COL)
    return out.sort_values([ID_COL, TIME_COL], ignore_index=True)
