"""Read a UN Comtrade "final data" CSV (47 columns) of China's monthly exports.

Comtrade's standard data is 6-digit HS: code 850511 covers all metal permanent magnets, a
little broader than China's 8-digit 85051110 (rare-earth permanent magnets), so Comtrade
tonnes can exceed customs tonnes for the same partner and month.
"""

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
    sum_by_destination,
)
from forecasting.data.partners import iso3_to_iso2
from forecasting.schema import (
    ID_COL,
    OTHER,
    PANEL_COLUMNS,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
)

COLUMNS: tuple[str, ...] = (
    "typeCode", "freqCode", "refPeriodId", "refYear", "refMonth", "period", "reporterCode",
    "reporterISO", "reporterDesc", "flowCode", "flowDesc", "partnerCode", "partnerISO",
    "partnerDesc", "partner2Code", "partner2ISO", "partner2Desc", "classificationCode",
    "classificationSearchCode", "isOriginalClassification", "cmdCode", "cmdDesc", "aggrLevel",
    "isLeaf", "customsCode", "customsDesc", "mosCode", "motCode", "motDesc", "qtyUnitCode",
    "qtyUnitAbbr", "qty", "isQtyEstimated", "altQtyUnitCode", "altQtyUnitAbbr", "altQty",
    "isAltQtyEstimated", "netWgt", "isNetWgtEstimated", "grossWgt", "isGrossWgtEstimated",
    "cifvalue", "fobvalue", "primaryValue", "legacyEstimationFlag", "isReported", "isAggregate",
)
MARKERS: frozenset[str] = frozenset(COLUMNS)
REQUIRED: tuple[str, ...] = (
    "freqCode", "period", "reporterCode", "flowCode", "partnerCode", "partnerISO", "netWgt")
# Breakdown columns and the code of their total; rows that are not totals are dropped.
TOTAL_CODES: dict[str, tuple[str, ...]] = {
    "partner2Code": ("0", ""), "motCode": ("0", ""), "customsCode": ("C00", "")}
WORLD_CODES: tuple[str, ...] = ("0", "W00")
# Comtrade partners that are no country ("Areas, nes", "Bunkers", ...) go to OTHER.
NOT_COUNTRY = r"\bnes\b|Bunkers|Free Zones|Special Categories"


def _check_equal(table: pd.DataFrame, column: str, expected: str, meaning: str, *,
                 source: object) -> None:
    """Raise InputError at the first row whose `column` is not `expected`."""
    values = table[column].str.strip()
    fail_first(values != expected, values, source=source, column=column,
               message=f"{{value!r}} is not {expected} ({meaning}); download China's (156) "
                       "monthly (M) exports (X)")


def _destinations(table: pd.DataFrame, *, source: object) -> pd.Series:
    """WORLD, ISO-2 from partnerISO (ISO-3), or OTHER for Comtrade's non-country areas."""
    iso3 = table["partnerISO"].str.strip()
    ids = iso3.map({code: iso3_to_iso2(code) for code in iso3.unique()})
    world = table["partnerCode"].str.strip().isin(WORLD_CODES) | iso3.isin(WORLD_CODES)
    ids = ids.mask(world, WORLD)
    if "partnerDesc" in table.columns:
        ids = ids.mask(ids.isna() & table["partnerDesc"].str.contains(NOT_COUNTRY), OTHER)
    fail_first(ids.isna(), iso3, source=source, column="partnerISO",
               message="partner {value!r} is not an ISO 3166-1 alpha-3 code nor W00 (world)")
    return ids


def read_comtrade(table: pd.DataFrame, *, source: object,
                  limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Panel from a Comtrade table: netWgt kg -> tonnes (empty = NaN), partner 0 / W00 -> WORLD."""
    require_columns(table, REQUIRED, source=source, fmt="UN Comtrade")
    _check_equal(table, "freqCode", "M", "monthly", source=source)
    _check_equal(table, "reporterCode", "156", "China", source=source)
    _check_equal(table, "flowCode", "X", "export", source=source)
    total = pd.Series(True, index=table.index)
    for column, codes in TOTAL_CODES.items():
        if column in table.columns:
            total &= table[column].str.strip().isin(codes)
    if not total.any():
        raise InputError(source, "no total rows (partner2Code 0, motCode 0, customsCode C00); "
                         "download without breakdowns", row=int(table.index[0]))
    table = table[total]
    if "cmdCode" in table.columns:
        codes = table["cmdCode"].str.strip()
        fail_first(codes != codes.iloc[0], codes, source=source, column="cmdCode",
                   message=f"commodity code {{value!r}} differs from {codes.iloc[0]!r} in the "
                           "first row; download one commodity per file")
    months = parse_months(table["period"], pattern="YYYYMM", source=source, column="period")
    check_months(months, table["period"], source=source, column="period",
                 floor=limits.floor("comtrade"), limits=limits)
    tonnes = parse_quantities(table["netWgt"], source=source, column="netWgt",
                              allow_empty=True) / 1000.0
    check_ceiling(tonnes, table["netWgt"], source=source, column="netWgt", limits=limits)
    frame = pd.DataFrame({"partnerCode": table["partnerCode"].str.strip(), TIME_COL: months,
                          TARGET_COL: tonnes})
    frame = collapse_duplicates(frame, ["partnerCode", TIME_COL], source=source,
                                column="netWgt")
    frame[ID_COL] = _destinations(table.loc[frame.index], source=source)
    panel = sum_by_destination(frame)
    panel[STATUS_COL] = REPORTED
    return panel.loc[:, list(PANEL_COLUMNS)]
