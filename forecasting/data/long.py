"""Read the Nixtla long contract unique_id, ds, y[, status][, product]: any ids, monthly ds."""

from __future__ import annotations

import pandas as pd

from forecasting.data.cells import (
    DEFAULT_LIMITS,
    Limits,
    check_ceiling,
    check_months,
    collapse_duplicates,
    distinct,
    fail_first_code,
    parse_quantities,
    require_columns,
)
from forecasting.data.products import NAME, PRODUCT_COL, SEP
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


def _keyed_by_product(column: pd.Series, ids: pd.Series, *, source: object) -> pd.Series:
    """`ids` keyed `<product>/<id>` when `column` names more than one product (each a safe
    name), unchanged when it names one."""
    codes, names = distinct(column)
    fail_first_code(~names.map(lambda n: bool(NAME.fullmatch(n))), codes, column, source=source,
                    column=PRODUCT_COL, message="product {value!r} is not a name (letters, "
                    "digits, '_', '-', '.'; no '/'); every row needs its product")
    if len(names) == 1:
        return ids
    return pd.Series(names.to_numpy()[codes], index=ids.index) + SEP + ids
MARKERS: frozenset[str] = frozenset({*REQUIRED, STATUS_COL})
MONTH_RE = r"(1[7-9]\d{2}|2[01]\d{2})-(0[1-9]|1[0-2])(?:-(\d{2}))?"  # years 1700-2199


def parse_long_months(values: pd.Series, *, source: object) -> pd.Series:
    """Month starts of `YYYY-MM` or `YYYY-MM-01` strings (a date must be the first of a month)."""
    codes, text = distinct(values)
    parts = text.str.extract(f"^{MONTH_RE}$")
    fail_first_code(parts[0].isna(), codes, values, source=source, column=TIME_COL,
                    message="{value!r} is not a month; write YYYY-MM (e.g. 1995-05) or the "
                            "month's first day YYYY-MM-01")
    fail_first_code(parts[2].notna() & (parts[2] != "01"), codes, values, source=source,
                    column=TIME_COL, message="{value!r} is not the first day of a month; "
                                             "monthly ds are YYYY-MM or YYYY-MM-01")
    months = pd.to_datetime(parts[0] + "-" + parts[1], format="%Y-%m")
    return pd.Series(months.to_numpy()[codes], index=values.index)


def read_long(table: pd.DataFrame, *, source: object,
              limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Panel from a long table: non-empty string ids, monthly ds, finite y (empty = missing).

    y may be negative here (M3's N2786 is -1200 in 1999-12); the models need y >= 0 in the
    history they fit on, which ModelInput checks at `as_of`.

    `status` is optional (absent or empty = reported); other columns (category, ...) are ignored.
    `product` is optional: with more than one product in it, every id is keyed
    `<product>/<unique_id>` (forecasting.data.products); with one, ids stay as they are.
    """
    require_columns(table, REQUIRED, source=source, fmt="long (unique_id,ds,y)")
    codes, names = distinct(table[ID_COL])
    fail_first_code(names == "", codes, table[ID_COL], source=source, column=ID_COL,
                    message="unique_id is empty; every row needs a series id")
    ids = pd.Series(names.to_numpy()[codes], index=table.index)
    y = parse_quantities(table[TARGET_COL], source=source, column=TARGET_COL, allow_empty=True,
                         negative=True)
    check_ceiling(y, table[TARGET_COL], source=source, column=TARGET_COL, limits=limits)
    if STATUS_COL in table.columns:
        codes, names = distinct(table[STATUS_COL])
        names = names.replace("", REPORTED)
        fail_first_code(~names.isin(STATUSES), codes, table[STATUS_COL], source=source,
                        column=STATUS_COL,
                        message=f"status {{value!r}} is not one of {', '.join(STATUSES)}")
        status = pd.Series(names.to_numpy()[codes], index=table.index)
    else:
        status = pd.Series(REPORTED, index=table.index)
    months = parse_long_months(table[TIME_COL], source=source)
    check_months(months, table[TIME_COL], source=source, column=TIME_COL,
                 floor=limits.floor("long"), limits=limits)
    if PRODUCT_COL in table.columns:
        ids = _keyed_by_product(table[PRODUCT_COL], ids, source=source)
    frame = pd.DataFrame({ID_COL: ids, TIME_COL: months, TARGET_COL: y, STATUS_COL: status})
    frame = collapse_duplicates(frame, [ID_COL, TIME_COL], source=source, column=TIME_COL)
    return frame.loc[:, list(PANEL_COLUMNS)]
