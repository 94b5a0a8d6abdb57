"""Parse and check the string cells of a raw table, raising InputError at the first bad row.

Every table here is indexed by file row number as a person counts it in the file: the
header is row 1, so the first data row is row 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, InputError

MONTH_PATTERNS: dict[str, tuple[str, str]] = {
    "YYYYMM": (r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])", "%Y%m"),
    "YYYY-MM": (r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])", "%Y-%m"),
}


def fail_first(bad: pd.Series, values: pd.Series, *, source: object, column: str | None,
               message: str) -> None:
    """Raise InputError at the first row where `bad` holds; `message` may use {value}."""
    if bad.any():
        row = bad.idxmax()
        raise InputError(source, message.format(value=values.loc[row]), row=int(row),
                         column=column)


def require_columns(table: pd.DataFrame, columns: Iterable[str], *, source: object,
                    fmt: str) -> None:
    """Raise InputError naming the first required column the header lacks."""
    for column in columns:
        if column not in table.columns:
            raise InputError(source, f"missing required column for the {fmt} format; header has "
                             f"{list(table.columns)}", row=1, column=column)


def parse_month(value: str, *, pattern: str, source: object, what: str) -> pd.Timestamp:
    """Month start of a single month string such as a month= argument."""
    regex, fmt = MONTH_PATTERNS[pattern]
    if not re.fullmatch(regex, value):
        raise InputError(source, f"{what}={value!r} is not a month {pattern}")
    return pd.Timestamp(pd.to_datetime(value, format=fmt))


def parse_months(values: pd.Series, *, pattern: str, source: object,
                 column: str) -> pd.Series:
    """Month-start timestamps of a column of month strings in `pattern` (YYYYMM or YYYY-MM)."""
    regex, fmt = MONTH_PATTERNS[pattern]
    text = values.str.strip()
    fail_first(~text.str.fullmatch(regex), text, source=source, column=column,
               message=f"{{value!r}} is not a month {pattern}; write e.g. "
                       f"{pd.Timestamp('2025-11-01').strftime(fmt)}")
    return pd.to_datetime(text, format=fmt)


def parse_quantities(values: pd.Series, *, source: object, column: str,
                     allow_empty: bool) -> pd.Series:
    """Floats from number strings with optional thousands separators ("1,000"); empty -> NaN."""
    text = values.str.replace(r"[,\s，]", "", regex=True)
    empty = text == ""
    if not allow_empty:
        fail_first(empty, values, source=source, column=column,
                   message="quantity is empty; every row needs a number")
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    fail_first(numbers.isna() & ~empty, values, source=source, column=column,
               message="{value!r} is not a number")
    fail_first(numbers < 0, values, source=source, column=column,
               message="negative quantity {value!r}; quantities must be >= 0")
    return numbers.astype(float)


def collapse_duplicates(frame: pd.DataFrame, keys: list[str], *, source: object,
                        column: str) -> pd.DataFrame:
    """Drop identical repeated rows; raise InputError on a key repeated with other values."""
    frame = frame.drop_duplicates()
    repeated = frame.duplicated(keys, keep=False)
    if repeated.any():
        clash = frame[repeated]
        first = clash.index[0]
        again = clash.index[clash.duplicated(keys)][0]
        key = ", ".join(f"{v:%Y-%m}" if isinstance(v, pd.Timestamp) else str(v)
                        for v in frame.loc[first, keys])
        raise InputError(source, f"duplicate of row {first} ({key}) with different values; "
                         "keep one row per key", row=int(again), column=column)
    return frame


def sum_by_destination(frame: pd.DataFrame) -> pd.DataFrame:
    """Sum `y` per (unique_id, ds); a sum with any missing part is missing, not an undercount."""
    keys = [frame[ID_COL], frame[TIME_COL]]
    total = frame[TARGET_COL].groupby(keys).sum()
    total[frame[TARGET_COL].isna().groupby(keys).any()] = np.nan
    return total.reset_index()
