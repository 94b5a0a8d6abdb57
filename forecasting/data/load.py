"""Load a customs, Comtrade, plain or long CSV (or .gz) into the panel unique_id, ds, y, status.

Errors are InputError naming the file, the row as a person counts it in the file (header =
row 1, first data row = row 2) and the column.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path

import pandas as pd

from forecasting.data.cells import DEFAULT_LIMITS, Limits, parse_month
from forecasting.data.comtrade import MARKERS as COMTRADE_MARKERS
from forecasting.data.comtrade import read_comtrade
from forecasting.data.customs import MARKERS as CUSTOMS_MARKERS
from forecasting.data.customs import read_customs
from forecasting.data.long import MARKERS as LONG_MARKERS
from forecasting.data.long import read_long
from forecasting.data.plain import MARKERS as PLAIN_MARKERS
from forecasting.data.plain import read_plain
from forecasting.data.products import PRODUCT_COL
from forecasting.schema import TIME_COL, InputError, validate_panel

FORMATS: tuple[str, ...] = ("auto", "plain", "customs", "comtrade", "long")
MARKERS: dict[str, frozenset[str]] = {
    "plain": PLAIN_MARKERS, "customs": CUSTOMS_MARKERS, "comtrade": COMTRADE_MARKERS,
    "long": LONG_MARKERS}
GZIP_MAGIC = b"\x1f\x8b"
ENCODINGS: tuple[str, ...] = ("utf-8-sig", "gb18030")  # GB18030 covers GBK and GB2312
COMTRADE_ENCODING = "iso-8859-1"  # tried only when the header is an ASCII Comtrade header
DELIMITERS = ";\t|"  # tried, in order, when the header line has no comma
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, LF, CR; DEL


def _delimiter(line: str) -> str:
    """The field separator of a header line: a comma, else the first of DELIMITERS it holds."""
    return "," if "," in line else next((d for d in DELIMITERS if d in line), ",")


def _header(line: str) -> list[str]:
    """Column names of a CSV header line, stripped."""
    return [name.strip() for name in next(csv.reader([line], delimiter=_delimiter(line)), [])]


def _refuse_control(text: str, *, path: Path) -> None:
    """InputError naming the row and column of the first control character (NUL, BEL, ...)."""
    found = CONTROL.search(text)
    if found is None:
        return
    start = text.rfind("\n", 0, found.start()) + 1
    header = text.split("\n", 1)[0]
    try:  # the cells of the line up to the character (a quoted line break makes it unknown)
        fields = next(csv.reader([text[start:found.start()] + "x"], delimiter=_delimiter(header)))
    except csv.Error:
        fields = []
    columns = _header(header)
    column = columns[len(fields) - 1] if 0 < len(fields) <= len(columns) else None
    raise InputError(path, f"control character {found.group()!r} in a cell (a binary or "
                     "corrupt file?); remove it or export the file again",
                     row=text.count("\n", 0, found.start()) + 1, column=column)


def _sniff(columns: list[str]) -> str | None:
    """Format whose header names overlap `columns` most (at least two), else None."""
    overlap = {fmt: len(markers.intersection(columns)) for fmt, markers in MARKERS.items()}
    best = max(overlap, key=overlap.__getitem__)
    return best if overlap[best] >= 2 else None


def _decode(path: Path) -> tuple[str, str]:
    """Text of `path` and the encoding that decoded it: UTF-8 (BOM or not), GB18030, Latin-1."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(path, f"cannot read the file ({error.strerror}); check that it exists "
                         "and that you may read it") from error
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise InputError(path, f"not a readable gzip file ({error}); compress it again "
                             "or pass the plain CSV") from error
    if not data.strip():
        raise InputError(path, "file is empty; export the data again")
    first_line = data.split(b"\n", 1)[0]
    if first_line.isascii() and _sniff(_header(first_line.decode("ascii"))) == "comtrade":
        candidates = (ENCODINGS[0], COMTRADE_ENCODING)
    else:
        candidates = ENCODINGS
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as error:
            row = data[:error.start].count(b"\n") + 1
    raise InputError(path, f"bytes on this row decode under none of {', '.join(candidates)}; "
                     "re-save the file as UTF-8", row=row)


def _table(text: str, *, path: Path) -> pd.DataFrame:
    """All cells as stripped strings, indexed by file row number, blank lines dropped."""
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            skip_blank_lines=False, index_col=False,
                            sep=_delimiter(text.split("\n", 1)[0]))
    except pd.errors.ParserError as error:
        line = re.search(r"line (\d+)", str(error))
        raise InputError(path, f"not a well-formed CSV: {str(error).strip()}",
                         row=int(line.group(1)) if line else None) from error
    except pd.errors.EmptyDataError as error:
        raise InputError(path, "file has no header line") from error
    table.columns = [str(c).strip() for c in table.columns]
    table.index = table.index + 2
    table = table[(table != "").any(axis=1)]
    if table.empty:
        raise InputError(path, "file has a header but no data rows", row=2)
    return table


def _format(columns: list[str], *, path: Path, encoding: str) -> str:
    """Detected format of a header, or InputError saying what was tried."""
    fmt = _sniff(columns)
    if fmt is None:
        raise InputError(path, f"unrecognised header {','.join(columns)[:80]!r} (decoded as "
                         f"{encoding}; encodings tried in order: {', '.join(ENCODINGS)}, and "
                         f"{COMTRADE_ENCODING} for Comtrade): expected a China customs export, a "
                         "UN Comtrade CSV, destination,month,tonnes or unique_id,ds,y; if the "
                         "names look garbled, re-save the file as UTF-8", row=1)
    return fmt


def detect_format(path: str | Path) -> str:
    """Format of a CSV file from its header line: "plain", "customs", "comtrade" or "long"."""
    path = Path(path)
    text, encoding = _decode(path)
    return _format(_header(text.splitlines()[0]), path=path, encoding=encoding)


def products_of(path: str | Path) -> tuple[str, ...]:
    """The distinct names of a long file's optional `product` column, sorted (() without
    one); call after load_panel, which checks them."""
    path = Path(path)
    text, _ = _decode(path)
    if PRODUCT_COL not in _header(text.split("\n", 1)[0]):
        return ()
    table = _table(text, path=path)
    return tuple(sorted(set(table[PRODUCT_COL].str.strip())))


def load_panel(path: str | Path, *, format: str = "auto", month: str | None = None,
               as_of: str | None = None, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Validated panel (unique_id, ds, y, status) from a customs, Comtrade, plain or long CSV.

    `month="YYYY-MM"` gives the month of a customs file without a month column; `as_of`
    drops every row after that month. Customs files carry no WORLD row; none is invented.
    `limits` bounds the values and months (data.max_value, data.min_month, the current month).
    """
    path = Path(path)
    if format not in FORMATS:
        raise InputError(path, f"format={format!r} is not one of {', '.join(FORMATS)}")
    cutoff = None if as_of is None else parse_month(as_of, pattern="YYYY-MM", source=path,
                                                    what="as_of")
    text, encoding = _decode(path)
    _refuse_control(text, path=path)
    table = _table(text, path=path)
    if format == "auto":
        format = _format(list(table.columns), path=path, encoding=encoding)
    if format == "customs":
        panel = read_customs(table, source=path, month=month, limits=limits)
    elif format == "comtrade":
        panel = read_comtrade(table, source=path, limits=limits)
    elif format == "long":
        panel = read_long(table, source=path, limits=limits)
    else:
        panel = read_plain(table, source=path, limits=limits)
    if cutoff is not None:
        panel = panel[panel[TIME_COL] <= cutoff]
    return validate_panel(panel, source=path, nonnegative=format != "long")
