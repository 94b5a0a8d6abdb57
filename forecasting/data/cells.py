"""Parse and check the string cells of a raw table, raising InputError at the first bad row.

Every table here is indexed by file row number as a person counts it in the file: the
header is row 1, so the first data row is row 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, InputError

MONTH_PATTERNS: dict[str, tuple[str, str]] = {
    "YYYYMM": (r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])", "%Y%m"),
    "YYYY-MM": (r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])", "%Y-%m"),
}
MAX_VALUE = 1e7  # data.max_value: the ceiling of one series-month (tonnes for the magnet formats)
MIN_MONTH = {"magnets": "1990-01", "long": "1900-01"}  # data.min_month=auto, by format family
MAX_GAP_MONTHS = 12  # the newest month may follow the file's next newest by at most this
# Numbers: plain digits (a decimal point, an exponent), or grouped by thousands separators.
PLAIN = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
AMBIGUOUS_DOT = r"[+-]?\d{1,3}\.\d{3}"  # 1.234: decimal point (default) or thousands (1.234,5)
AMBIGUOUS_COMMA = r"[+-]?\d{1,3},\d{3}"  # 1,234: thousands (default) or decimal comma
COMMA_GROUPS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234,567.5
DOT_GROUPS = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?"  # 1.234.567,5
DECIMAL_COMMA = r"[+-]?\d+,\d+"  # 1234,5
SPACE_GROUPS = r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?"  # 1 234 567,5
INFINITE = r"[+-]?inf(?:inity)?"
NAN = r"[+-]?nan"
FORMAT_HINT = "write digits with a decimal point and no thousands separator, e.g. 1234.5"


@dataclass(frozen=True)
class Limits:
    """Plausible values of a loaded file: a ceiling per series-month and a span of months.

    `min_month="auto"` is 1990-01 for the magnet formats, 1900-01 for long panels (M3 starts
    in 1989); `today` (the current month when None) bounds the newest month.
    """

    max_value: float = MAX_VALUE
    min_month: str = "auto"
    today: pd.Timestamp | None = None

    def floor(self, fmt: str) -> pd.Timestamp:
        """The earliest month accepted for a file of format `fmt`."""
        month = (MIN_MONTH["long" if fmt == "long" else "magnets"] if self.min_month == "auto"
                 else self.min_month)
        return pd.Timestamp(month + "-01")

    def current_month(self) -> pd.Timestamp:
        """The latest month a file may hold: `today`'s month, by default the clock's."""
        return (self.today or pd.Timestamp.now()).to_period("M").to_timestamp()


DEFAULT_LIMITS = Limits()


def fail_first(bad: pd.Series, values: pd.Series, *, source: object, column: str | None,
               message: str) -> None:
    """Raise InputError at the first row where `bad` holds; `message` may use {value}."""
    if bad.any():
        row = bad.idxmax()
        raise InputError(source, message.format(value=values.loc[row]), row=int(row),
                         column=column)


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes and the stripped distinct values of a string column (checks run once per value).

    Distinct values come in the order of their first row, so the first bad one is the
    first bad row.
    """
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques, dtype=object).str.strip()


def fail_first_code(bad: pd.Series, codes: np.ndarray, values: pd.Series, *, source: object,
                    column: str | None, message: str) -> None:
    """fail_first over the rows of `values` whose distinct value (by code) is `bad`."""
    if bad.any():
        rows = pd.Series(bad.to_numpy()[codes], index=values.index)
        fail_first(rows, values.str.strip(), source=source, column=column, message=message)


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


def check_months(months: pd.Series, values: pd.Series, *, source: object, column: str | None,
                 floor: pd.Timestamp, limits: Limits) -> None:
    """Refuse a month before `floor` (data.min_month), after the current month, or more than
    MAX_GAP_MONTHS after the file's next newest month (a lone typo such as 2031 for 2021)."""
    stamps = months.to_numpy()
    if (stamps < floor).any():
        fail_first(months < floor, values, source=source, column=column,
                   message=f"month {{value!r}} is before data.min_month={floor:%Y-%m}; fix the "
                           "month or lower data.min_month")
    now = limits.current_month()
    if (stamps > now).any():
        fail_first(months > now, values, source=source, column=column,
                   message=f"month {{value!r}} is in the future (after {now:%Y-%m}, the current "
                           "month); fix the month")
    newest = np.unique(stamps.astype("datetime64[M]"))[-2:]
    gap = int((newest[-1] - newest[0]).astype(int))
    if gap > MAX_GAP_MONTHS:
        fail_first(months == newest[-1], values, source=source, column=column,
                   message=f"month {{value!r}} is {gap} months after the file's next newest "
                           f"month {newest[0]} (more than {MAX_GAP_MONTHS}): a typo? fix the "
                           "month or drop the row")


def _groups(text: pd.Series) -> pd.DataFrame:
    """Which way each number string is written (boolean columns, one row per string)."""
    match = {name: text.str.fullmatch(regex) for name, regex in (
        ("plain", PLAIN), ("amb_dot", AMBIGUOUS_DOT), ("amb_comma", AMBIGUOUS_COMMA),
        ("comma_groups", COMMA_GROUPS), ("dot_groups", DOT_GROUPS),
        ("decimal_comma", DECIMAL_COMMA))}
    kinds = pd.DataFrame(match)
    kinds["point"] = ((kinds.plain & text.str.contains(".", regex=False) & ~kinds.amb_dot)
                      | (kinds.comma_groups & ~kinds.amb_comma))
    kinds["comma"] = ((kinds.dot_groups & ~kinds.amb_dot)
                      | (kinds.decimal_comma & ~kinds.amb_comma & ~kinds.comma_groups))
    kinds["ok"] = kinds.plain | kinds.point | kinds.comma | kinds.amb_comma
    return kinds


def _separators_removed(text: pd.Series, empty: pd.Series, codes: np.ndarray,
                        values: pd.Series, *, source: object, column: str) -> pd.Series:
    """Distinct number strings with the column's thousands separators removed and a decimal
    comma made a point; InputError on a non-number or on a column mixing the conventions."""
    fail_first_code(text.str.fullmatch(INFINITE, case=False), codes, values, source=source,
                    column=column, message="{value!r} is not a finite number")
    fail_first_code(text.str.fullmatch(NAN, case=False), codes, values, source=source,
                    column=column, message="{value!r} is not a number; leave the cell empty "
                                           "for a missing month")
    kinds = _groups(text)
    fail_first_code(~kinds.ok & ~empty, codes, values, source=source, column=column,
                    message=f"{{value!r}} is not a number; {FORMAT_HINT}")
    if kinds.point.any() and kinds.comma.any():
        rows = {kind: int(values.index[np.flatnonzero(kinds[kind].to_numpy()[codes])[0]])
                for kind in ("point", "comma")}
        later, earlier = sorted(rows, key=rows.__getitem__, reverse=True)
        raise InputError(source, f"{values.loc[rows[later]].strip()!r} has a decimal "
                         f"{later} but row {rows[earlier]} ({values.loc[rows[earlier]].strip()!r}) "
                         f"a decimal {earlier}: one number format per column; {FORMAT_HINT}",
                         row=rows[later], column=column)
    if kinds.comma.any():
        return text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return text.str.replace(",", "", regex=False)


def parse_quantities(values: pd.Series, *, source: object, column: str, allow_empty: bool,
                     negative: bool = False) -> pd.Series:
    """Finite floats from number strings, the thousands and decimal separators detected per
    column; empty -> NaN (or an error unless `allow_empty`); negative -> error unless allowed.

    1,234 and 1,234,567.5 use thousands commas, 1.234,5 and 1234,5 a decimal comma (then
    1.234 is 1234); a column mixing the two conventions is refused, as is 1,23,456.
    """
    codes, text = distinct(values)
    text = text.str.replace("，", ",", regex=False)
    spaced = text.str.fullmatch(SPACE_GROUPS)
    text = text.where(~spaced, text.str.replace(r"[ \u00a0\u202f]", "", regex=True))
    empty = text == ""
    if not allow_empty:
        fail_first_code(empty, codes, values, source=source, column=column,
                        message="quantity is empty; every row needs a number")
    if not (empty | text.str.fullmatch(PLAIN)).all():
        text = _separators_removed(text, empty, codes, values, source=source, column=column)
    # Python's float rounds correctly (pandas' parser may miss the last digit); every
    # non-empty string here is a float literal; inf here is beyond float range (1e400)
    numbers = pd.Series([np.nan if blank else float(t) for t, blank in zip(text, empty,
                                                                           strict=True)])
    fail_first_code(pd.Series(np.isinf(numbers.to_numpy())), codes, values,
                    source=source, column=column, message="{value!r} is not a finite number")
    if not negative:
        fail_first_code(numbers < 0, codes, values, source=source, column=column,
                        message="negative quantity {value!r}; quantities must be >= 0")
    return pd.Series(numbers.to_numpy()[codes], index=values.index)


def check_ceiling(y: pd.Series, values: pd.Series, *, source: object, column: str,
                  limits: Limits) -> None:
    """Refuse a value (in the panel's unit, after conversion) above data.max_value."""
    fail_first(y.abs() > limits.max_value, values, source=source, column=column,
               message=f"{{value!r}} is above data.max_value={limits.max_value:g} per "
                       "series-month (in tonnes for the magnet formats); check the number and "
                       "its unit, or raise data.max_value")


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
