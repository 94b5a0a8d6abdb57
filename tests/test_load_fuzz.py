"""Property-based tests of the loaders: any generated file loads into a valid panel or is
refused with a one-line InputError (never another exception), and plain -> panel -> plain
is the identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.data.cells import MAX_VALUE
from forecasting.data.comtrade import COLUMNS as COMTRADE_COLUMNS
from forecasting.data.load import load_panel
from forecasting.schema import PANEL_COLUMNS, STATUSES, InputError

pytestmark = pytest.mark.slow  # about 5,000 loads: deselect with -m "not slow"
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None)
NUMBERS = ["0", "5", "1302.5", "1,302", "1,302,250", "1.302,5", "1302,5", "1 302", "-5", "1e308",
           "1e400", "inf", "-inf", "nan", "NaN", "", " ", "abc", "1,23,456", "1.2.3", "12\x0034",
           "5\x07", "2e7", "0.001", "\u00a01302", "，5"]
MONTHS = ["2025-01", "2024-12", "2025-06", "1985-01", "1850-03", "2099-01", "2025-13", "202501",
          "0001-01", "2025-01-01", "2025-01-15", "", "Jan 2025", "2025-\x1b01"]
STATUS_VALUES = [*STATUSES, "", "guess", "MICRO", "reported\x7f"]
# arbitrary short text over digits, separators, quotes, line breaks, controls and non-ASCII
NOISE = st.text(alphabet="0123456789.,;-+eE aZ\x00\x07\"\n\r\t中德é\u00a0，", max_size=5)


def cell(*choices: list[str]) -> st.SearchStrategy[str]:
    """Mostly a listed value (valid or a known fault), sometimes arbitrary text."""
    return st.one_of(st.sampled_from([c for group in choices for c in group]), NOISE)


def quoted(value: str) -> str:
    """A CSV cell: quoted when it holds a separator, a quote or a line break."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_text(draw: st.DrawFn, header: list[str], cells: dict[str, st.SearchStrategy[str]],
             encodings: tuple[str, ...] = ("utf-8",)) -> bytes:
    """A small CSV: `header` (sometimes missing a column), 0-5 rows of drawn cells, maybe raw
    bytes appended; encoded in one of `encodings`."""
    columns = list(header)
    if draw(st.integers(0, 9)) == 0:
        columns.remove(draw(st.sampled_from(columns)))
    rows = draw(st.lists(st.tuples(*(cells.get(c, st.just("")) for c in columns)), max_size=5))
    text = "\n".join([",".join(columns), *(",".join(map(quoted, row)) for row in rows)]) + "\n"
    data = text.encode(draw(st.sampled_from(encodings)), errors="replace")
    return data + draw(st.one_of(st.just(b""), st.binary(max_size=12)))


def check_loads_or_refuses(path: Path, data: bytes) -> None:
    """Load `data` from `path`: a valid panel or a one-line InputError, nothing else."""
    path.write_bytes(data)
    try:
        panel = load_panel(path)
    except InputError as error:
        assert "\n" not in str(error) and str(error).startswith(str(path))
        return
    assert list(panel.columns) == list(PANEL_COLUMNS)
    y = panel["y"].dropna().to_numpy()
    assert np.isfinite(y).all() and (np.abs(y) <= MAX_VALUE).all()
    assert panel["status"].isin(STATUSES).all()
    assert not panel.duplicated(["unique_id", "ds"]).any()
    assert (panel["ds"] >= pd.Timestamp("1900-01-01")).all()
    assert (panel["ds"] <= pd.Timestamp.now()).all()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


PLAIN = csv_text(["destination", "month", "tonnes", "status"], {
    "destination": cell(["DE", "US", "WORLD", "OTHER", "de", "XX", "", "D\x00E"]),
    "month": cell(MONTHS), "tonnes": cell(NUMBERS), "status": cell(STATUS_VALUES)})
CUSTOMS = csv_text(["数据年月", "贸易伙伴名称", "第一数量", "第一计量单位"], {
    "数据年月": cell(["202501", "202412", "198501", "209901", "202513", "2025-01", ""]),
    "贸易伙伴名称": cell(["德国", "美国", "日本", "越南", "亚特兰蒂斯", ""]),
    "第一数量": cell(NUMBERS), "第一计量单位": cell(["千克", "吨", "个", ""])},
    encodings=("gb18030", "utf-8-sig", "utf-8"))
COMTRADE = csv_text(list(COMTRADE_COLUMNS), {
    "freqCode": cell(["M", "A"]), "reporterCode": cell(["156", "842"]),
    "flowCode": cell(["X", "M"]), "period": cell(["202501", "202412", "198501", "209901", "2025"]),
    "partnerCode": cell(["0", "276", "842", "392", "999"]),
    "partnerISO": cell(["W00", "DEU", "USA", "JPN", "ZZZ", ""]),
    "partnerDesc": cell(["World", "Germany", "Areas, nes", ""]), "netWgt": cell(NUMBERS),
    "partner2Code": cell(["0", "", "276"]), "motCode": cell(["0", "", "1000"]),
    "customsCode": cell(["C00", "", "C01"]), "cmdCode": cell(["850511", "850519"])},
    encodings=("utf-8", "iso-8859-1"))
LONG = csv_text(["unique_id", "ds", "y", "status"], {
    "unique_id": cell(["N1402", "North region", " ", "", "a\x00b"]),
    "ds": cell(MONTHS), "y": cell(NUMBERS), "status": cell(STATUS_VALUES)})


@FUZZ
@given(data=PLAIN)
def test_plain_files_load_or_are_refused(work: Path, data: bytes) -> None:
    check_loads_or_refuses(work / "plain.csv", data)


@FUZZ
@given(data=CUSTOMS)
def test_customs_files_load_or_are_refused(work: Path, data: bytes) -> None:
    check_loads_or_refuses(work / "customs.csv", data)


@FUZZ
@given(data=COMTRADE)
def test_comtrade_files_load_or_are_refused(work: Path, data: bytes) -> None:
    check_loads_or_refuses(work / "comtrade.csv", data)


@FUZZ
@given(data=LONG)
def test_long_files_load_or_are_refused(work: Path, data: bytes) -> None:
    check_loads_or_refuses(work / "long.csv", data)


def plain_text(rows: list[tuple[str, pd.Timestamp, float, str]]) -> str:
    """Rows (id, month, tonnes, status) as the plain format, shortest exact floats."""
    lines = [f"{u},{d:%Y-%m},{'' if np.isnan(y) else repr(float(y))},{s}" for u, d, y, s in rows]
    return "\n".join(["destination,month,tonnes,status", *lines]) + "\n"


MONTH_STARTS = list(pd.date_range("2024-01-01", periods=13, freq="MS"))


@st.composite
def plain_rows(draw: st.DrawFn) -> list[tuple[str, pd.Timestamp, float, str]]:
    """A valid panel's rows in a loaded panel's order: ids, months within 13 consecutive
    months, tonnes up to MAX_VALUE or missing, any status."""
    ids = draw(st.lists(st.sampled_from(["DE", "US", "KR", "JP", "FR", "OTHER", "WORLD"]),
                        min_size=1, max_size=4, unique=True))
    tonnes = st.one_of(st.floats(0, MAX_VALUE), st.integers(0, 10**10).map(lambda k: k / 1000),
                       st.just(float("nan")))
    return [(uid, MONTH_STARTS[k], draw(tonnes), draw(st.sampled_from(STATUSES)))
            for uid in sorted(ids)
            for k in sorted(draw(st.sets(st.integers(0, 12), min_size=1, max_size=5)))]


@FUZZ
@given(rows=plain_rows())
def test_plain_panel_plain_round_trip_is_identical(work: Path, rows: list) -> None:
    path = work / "round_trip.csv"
    text = plain_text(rows)
    path.write_text(text)
    assert plain_text(list(load_panel(path).itertuples(index=False))) == text
