"""Read the project's plain panel CSV: destination,month,tonnes[,status][,source]."""

from __future__ import annotations

import pandas as pd

from forecasting.data.cells import (
    DEFAULT_LIMITS,
    Limits,
    check_ceiling,
    check_months,
    collapse_duplicates,
    fail_first,
    parse_months,
    parse_quantities,
    require_columns,
)
from forecasting.data.partners import DESTINATION_IDS
from forecasting.schema import (
    ID_COL,
    PANEL_COLUMNS,
    REPORTED,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
)

DESTINATION, MONTH, TONNES, STATUS = "destination", "month", "tonnes", "status"
MARKERS: frozenset[str] = frozenset({DESTINATION, MONTH, TONNES, STATUS, "source"})


def read_plain(table: pd.DataFrame, *, source: object,
               limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Panel from a plain table: ISO-2 / WORLD / OTHER ids, YYYY-MM months, tonnes (empty = NaN)."""
    require_columns(table, (DESTINATION, MONTH, TONNES), source=source, fmt="plain")
    ids = table[DESTINATION].str.strip().str.upper()
    fail_first(~ids.isin(DESTINATION_IDS), table[DESTINATION], source=source,
               column=DESTINATION, message="unknown destination {value!r}; use an ISO 3166-1 "
                                           "alpha-2 code (DE, US, ...), WORLD or OTHER")
    if STATUS in table.columns:
        status = table[STATUS].str.strip()
        fail_first(~status.isin(STATUSES), table[STATUS], source=source, column=STATUS,
                   message=f"status {{value!r}} is not one of {', '.join(STATUSES)}")
    else:
        status = pd.Series(REPORTED, index=table.index)
    months = parse_months(table[MONTH], pattern="YYYY-MM", source=source, column=MONTH)
    check_months(months, table[MONTH], source=source, column=MONTH, floor=limits.floor("plain"),
                 limits=limits)
    tonnes = parse_quantities(table[TONNES], source=source, column=TONNES, allow_empty=True)
    check_ceiling(tonnes, table[TONNES], source=source, column=TONNES, limits=limits)
    frame = pd.DataFrame({ID_COL: ids, TIME_COL: months, TARGET_COL: tonnes, STATUS_COL: status})
    frame = collapse_duplicates(frame, [ID_COL, TIME_COL], source=source, column=MONTH)
    return frame.loc[:, list(PANEL_COLUMNS)]
