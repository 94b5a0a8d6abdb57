"""Read the Nixtla long contract unique_id, ds, y[, status]: any ids, monthly ds, vectorised."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.cells import collapse_duplicates, fail_first, require_columns
from forecasting.schema import (
    ID_COL,
    PANEL_COLUMNS,
    REPORTED,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
)

REQUIRED: tuple[str, ...] = (ID_COL, TIME_COL, TARGET_COL)
MARKERS: frozenset[str] = frozenset({*REQUIRED, STATUS_COL})
MONTH_RE = r"(\d{4})-(0[1-9]|1[0-2])(?:-(\d{2}))?"


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and the stripped distinct values of a string column (checks run once per value)."""
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques, dtype=object).str.strip()


def _fail_first_code(bad: pd.Series, codes: np.ndarray, values: pd.Series, *, source: object,
                     column: str, message: str) -> None:
    """fail_first over the rows of `values` whose distinct value (by code) is `bad`."""
    if bad.any():
        rows = pd.Series(bad.to_numpy()[codes], index=values.index)
        fail_first(rows, values.str.strip(), source=source, column=column, message=message)


def parse_long_months(values: pd.Series, *, source: object) -> pd.Series:
    """Month starts of `YYYY-MM` or `YYYY-MM-01` strings (a date must be the first of a month)."""
    codes, text = _distinct(values)
    parts = text.str.extract(f"^{MONTH_RE}$")
    _fail_first_code(parts[0].isna(), codes, values, source=source, column=TIME_COL,
                     message="{value!r} is not a month; write YYYY-MM (e.g. 1995-05) or the "
                             "month's first day YYYY-MM-01")
    _fail_first_code(parts[2].notna() & (parts[2] != "01"), codes, values, source=source,
                     column=TIME_COL, message="{value!r} is not the first day of a month; "
                                              "monthly ds are YYYY-MM or YYYY-MM-01")
    months = pd.to_datetime(parts[0] + "-" + parts[1], format="%Y-%m")
    return pd.Series(months.to_numpy()[codes], index=values.index)


def parse_numbers(values: pd.Series, *, source: object) -> pd.Series:
    """Finite floats of any sign from number strings; an empty cell is a missing month (NaN)."""
    text = values.str.strip()
    empty = text == ""
    numbers = pd.to_numeric(text.where(~empty), errors="coerce")
    fail_first(numbers.isna() & ~empty, values, source=source, column=TARGET_COL,
               message="{value!r} is not a number")
    fail_first(pd.Series(np.isinf(numbers.to_numpy()), index=values.index), values, source=source,
               column=TARGET_COL, message="{value!r} is not a finite number")
    return numbers.astype(float)


def read_long(table: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """Panel from a long table: non-empty string ids, monthly ds, finite y (empty = missing).

    y may be negative here (M3's N2786 is -1200 in 1999-12); the models need y >= 0 in the
    history they fit on, which ModelInput checks at `as_of`.

    `status` is optional (absent or empty = reported); other columns (category, ...) are ignored.
    """
    require_columns(table, REQUIRED, source=source, fmt="long (unique_id,ds,y)")
    codes, distinct = _distinct(table[ID_COL])
    _fail_first_code(distinct == "", codes, table[ID_COL], source=source, column=ID_COL,
                     message="unique_id is empty; every row needs a series id")
    ids = pd.Series(distinct.to_numpy()[codes], index=table.index)
    y = parse_numbers(table[TARGET_COL], source=source)
    if STATUS_COL in table.columns:
        codes, distinct = _distinct(table[STATUS_COL])
        distinct = distinct.replace("", REPORTED)
        _fail_first_code(~distinct.isin(STATUSES), codes, table[STATUS_COL], source=source,
                         column=STATUS_COL,
                         message=f"status {{value!r}} is not one of {', '.join(STATUSES)}")
        status = pd.Series(distinct.to_numpy()[codes], index=table.index)
    else:
        status = pd.Series(REPORTED, index=table.index)
    frame = pd.DataFrame({ID_COL: ids, TIME_COL: parse_long_months(table[TIME_COL], source=source),
                          TARGET_COL: y, STATUS_COL: status})
    frame = collapse_duplicates(frame, [ID_COL, TIME_COL], source=source, column=TIME_COL)
    return frame.loc[:, list(PANEL_COLUMNS)]
