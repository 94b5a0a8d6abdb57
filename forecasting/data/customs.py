"""Read a China customs query-platform export (海关统计数据在线查询平台), any layout."""

from __future__ import annotations

import pandas as pd

from forecasting.data.cells import (
    DEFAULT_LIMITS,
    Limits,
    check_ceiling,
    check_months,
    collapse_duplicates,
    fail_first,
    parse_month,
    parse_months,
    parse_quantities,
    require_columns,
    sum_by_destination,
)
from forecasting.data.partners import partner_to_iso2
from forecasting.schema import (
    ID_COL,
    PANEL_COLUMNS,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    InputError,
)

MONTH_COLUMNS: tuple[str, ...] = ("数据年月", "月份")
CODE, PARTNER, QUANTITY, UNIT = "商品编码", "贸易伙伴名称", "第一数量", "第一计量单位"
BREAKDOWN: tuple[str, ...] = ("贸易方式编码", "贸易方式名称", "注册地编码", "注册地名称")
UNIT_DIVISORS: dict[str, float] = {"千克": 1000.0, "吨": 1.0}  # quantity / divisor = tonnes
MARKERS: frozenset[str] = frozenset(
    {*MONTH_COLUMNS, CODE, "商品名称", "贸易伙伴编码", PARTNER, QUANTITY, UNIT, *BREAKDOWN})


def _months(table: pd.DataFrame, month: str | None, *, source: object,
            limits: Limits) -> pd.Series:
    """Month of every row: from 数据年月 / 月份 (YYYYMM), else from the month= argument."""
    column = next((c for c in MONTH_COLUMNS if c in table.columns), None)
    given = None if month is None else parse_month(month, pattern="YYYY-MM", source=source,
                                                    what="month")
    if column is None:
        if given is None:
            raise InputError(source, "the file has no month column (数据年月 or 月份), so the "
                             "month of the query must be passed in: month='YYYY-MM'",
                             column=MONTH_COLUMNS[0])
        months = pd.Series(given, index=table.index)
        check_months(months, pd.Series(month, index=table.index), source=source, column=None,
                     floor=limits.floor("customs"), limits=limits)
        return months
    months = parse_months(table[column], pattern="YYYYMM", source=source, column=column)
    check_months(months, table[column], source=source, column=column,
                 floor=limits.floor("customs"), limits=limits)
    if given is not None:
        fail_first(months != given, table[column], source=source, column=column,
                   message=f"month {{value!r}} differs from the month={month!r} passed in")
    return months


def _destinations(names: pd.Series, *, source: object) -> pd.Series:
    """ISO-2 id of every partner name, mapping each distinct name once."""
    lookup = {name: partner_to_iso2(name) for name in names.unique()}
    ids = names.map(lookup)
    fail_first(ids.isna(), names, source=source, column=PARTNER,
               message="partner name {value!r} cannot be mapped to an ISO-2 country code; add "
                       "it to forecasting.data.partners.CUSTOMS_NAMES")
    return ids


def read_customs(table: pd.DataFrame, *, source: object, month: str | None = None,
                 limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Panel from a customs table: 第一数量 in 千克 (or 吨) -> tonnes, summed per partner-month."""
    require_columns(table, (PARTNER, QUANTITY, UNIT), source=source, fmt="China customs")
    if CODE in table.columns:
        codes = table[CODE].str.strip()
        fail_first(codes != codes.iloc[0], codes, source=source, column=CODE,
                   message=f"commodity code {{value!r}} differs from {codes.iloc[0]!r} in the "
                           "first row; export one commodity per file")
    units = table[UNIT].str.strip()
    fail_first(~units.isin(UNIT_DIVISORS), table[UNIT], source=source, column=UNIT,
               message="unit {value!r} is not 千克 (kg) or 吨 (t); query the quantity in 千克")
    quantity = parse_quantities(table[QUANTITY], source=source, column=QUANTITY,
                                allow_empty=False)
    tonnes = quantity / units.map(UNIT_DIVISORS)
    check_ceiling(tonnes, table[QUANTITY], source=source, column=QUANTITY, limits=limits)
    breakdown = [c for c in BREAKDOWN if c in table.columns]
    frame = pd.DataFrame({
        PARTNER: table[PARTNER].str.strip(),
        TIME_COL: _months(table, month, source=source, limits=limits),
        **{c: table[c].str.strip() for c in breakdown},
        TARGET_COL: tonnes,
    })
    frame = collapse_duplicates(frame, [PARTNER, TIME_COL, *breakdown], source=source,
                                column=QUANTITY)
    frame[ID_COL] = _destinations(frame[PARTNER], source=source)
    panel = sum_by_destination(frame)
    panel[STATUS_COL] = REPORTED
    return panel.loc[:, list(PANEL_COLUMNS)]
