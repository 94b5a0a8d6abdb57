"""Every bad input raises one-line InputError naming file, row (header = row 1) and column."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.cells import Limits
from forecasting.data.comtrade import COLUMNS as COMTRADE_COLUMNS
from forecasting.data.load import detect_format, load_panel
from forecasting.schema import InputError

CUSTOMS_HEADER = "数据年月,贸易伙伴名称,第一数量,第一计量单位,美元"
EXTENDED_HEADER = ("商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,贸易方式编码,贸易方式名称,"
                   "注册地编码,注册地名称,第一数量,第一计量单位,第二数量,第二计量单位,人民币")


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    """Write CSV lines to `path` in `encoding`; return the path."""
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def comtrade(path: Path, **cells: str) -> Path:
    """A one-row Comtrade CSV of China's monthly exports to Germany, with `cells` overridden."""
    row = {"typeCode": "C", "freqCode": "M", "period": "202511", "reporterCode": "156",
           "flowCode": "X", "partnerCode": "276", "partnerISO": "DEU", "netWgt": "1302250",
           **cells}
    return write(path, [",".join(COMTRADE_COLUMNS), ",".join(row.get(c, "")
                                                             for c in COMTRADE_COLUMNS)])


def error_of(path: Path, **kwargs: object) -> InputError:
    """The InputError load_panel raises on `path`, after checking it is one line naming the file."""
    with pytest.raises(InputError) as info:
        load_panel(path, **kwargs)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    return info.value


def test_missing_required_column(tmp_path: Path) -> None:
    error = error_of(write(tmp_path / "p.csv", ["destination,month", "DE,2025-11"]))
    assert (error.row, error.column) == (1, "tonnes")
    assert "missing required column" in str(error)


def test_customs_missing_quantity_column(tmp_path: Path) -> None:
    lines = ["数据年月,贸易伙伴名称,第一计量单位", "202511,德国,千克"]
    error = error_of(write(tmp_path / "c.csv", lines, "gb18030"))
    assert error.column == "第一数量"


def test_comtrade_missing_net_weight_column(tmp_path: Path) -> None:
    lines = ["freqCode,period,reporterCode,flowCode,partnerCode,partnerISO",
             "M,202511,156,X,276,DEU"]
    path = write(tmp_path / "ct.csv", lines)
    assert error_of(path).column == "netWgt"


def test_unrecognised_header(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", ["country,date,amount", "DE,2025-11,5"])
    error = error_of(path)
    assert error.row == 1 and "unrecognised header" in str(error)
    with pytest.raises(InputError, match="unrecognised header"):
        detect_format(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "file is empty" in str(error_of(path))


def test_header_only_file(tmp_path: Path) -> None:
    error = error_of(write(tmp_path / "h.csv", ["destination,month,tonnes", "", ""]))
    assert error.row == 2 and "no data rows" in str(error)


def test_duplicate_destination_month_with_different_values(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-11,1302",
                                      "US,2025-11,582", "DE,2025-11,1300"])
    error = error_of(path)
    assert error.row == 4 and "duplicate of row 2 (DE, 2025-11)" in str(error)


def test_duplicate_differing_only_in_status(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes,status",
                                      "DE,2025-11,1302,reported", "DE,2025-11,1302,estimated"])
    assert error_of(path).row == 3


def test_customs_duplicate_partner_month(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, '202511,德国,"1,302,250",千克,1',
                                      '202511,德国,"1,300,000",千克,1'], "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (3, "第一数量")


def test_negative_quantity(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-10,5", "DE,2025-11,-5"])
    error = error_of(path)
    assert (error.row, error.column) == (3, "tonnes") and "negative" in str(error)


def test_non_numeric_quantity(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,about 5 t,千克,1"], "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (2, "第一数量")
    assert "'about 5 t' is not a number" in str(error)


def test_empty_customs_quantity(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,,千克,1"], "gb18030")
    assert "empty" in str(error_of(path))


@pytest.mark.parametrize("month", ["2025-13", "202511", "Nov 2025", "2025-1", ""])
def test_plain_month_that_is_not_a_month(tmp_path: Path, month: str) -> None:
    error = error_of(write(tmp_path / "p.csv", ["destination,month,tonnes", f"DE,{month},5"]))
    assert (error.row, error.column) == (2, "month") and "YYYY-MM" in str(error)


@pytest.mark.parametrize("month", ["202513", "2025-11", "Nov 2025"])
def test_customs_month_that_is_not_a_month(tmp_path: Path, month: str) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, f"{month},德国,5,千克,1"], "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (2, "数据年月") and "YYYYMM" in str(error)


def test_unmappable_partner_name(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,5,千克,1",
                                      "202511,亚特兰蒂斯,5,千克,1"], "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (3, "贸易伙伴名称") and "亚特兰蒂斯" in str(error)


@pytest.mark.parametrize("code", ["XX", "EU", "GER", ""])
def test_unknown_iso2_code(tmp_path: Path, code: str) -> None:
    error = error_of(write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-11,5",
                                                f"{code},2025-11,5"]))
    assert (error.row, error.column) == (3, "destination") and "ISO 3166-1" in str(error)


def test_bytes_that_decode_under_no_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"destination,month,tonnes\nDE,2025-11,\xff\xff\n")
    error = error_of(path)
    assert error.row == 2 and "utf-8-sig, gb18030" in str(error)


def test_customs_file_that_decodes_to_mojibake(tmp_path: Path) -> None:
    traditional = "數據年月,貿易夥伴名稱,第一數量,第一計量單位,美元"
    path = write(tmp_path / "big5.csv", [traditional, "202511,德國,5,千克,1"], "big5")
    error = error_of(path)
    assert error.row == 1 and "decoded as gb18030" in str(error) and "utf-8-sig" in str(error)


def test_invalid_status(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes,status", "DE,2025-11,5,guess"])
    error = error_of(path)
    assert (error.row, error.column) == (2, "status") and "'guess'" in str(error)


def test_wrong_customs_unit(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,5,千克,1",
                                      "202511,美国,5,个,1"], "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (3, "第一计量单位") and "'个'" in str(error)


@pytest.mark.parametrize(("cells", "column"), [
    ({"reporterCode": "842"}, "reporterCode"), ({"flowCode": "M"}, "flowCode"),
    ({"freqCode": "A", "period": "2025"}, "freqCode")])
def test_comtrade_not_china_monthly_exports(tmp_path: Path, cells: dict[str, str],
                                            column: str) -> None:
    error = error_of(comtrade(tmp_path / "ct.csv", **cells))
    assert (error.row, error.column) == (2, column)
    assert f"'{cells[column]}' is not" in str(error)


def test_comtrade_unknown_partner(tmp_path: Path) -> None:
    error = error_of(comtrade(tmp_path / "ct.csv", partnerISO="ZZZ"))
    assert error.column == "partnerISO" and "'ZZZ'" in str(error)


def test_extended_layout_without_month(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", [EXTENDED_HEADER,
                                      "85051110,稀土永磁体,1,德国,10,一般贸易,3302,深圳,5,千克,,,1"],
                 "gb18030")
    error = error_of(path)
    assert error.column == "数据年月" and "month='YYYY-MM'" in str(error)
    assert not load_panel(path, month="2025-11").empty


def test_month_argument_disagreeing_with_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,5,千克,1"], "gb18030")
    assert error_of(path, month="2025-10").row == 2


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"as_of": "2025-13"}, "as_of='2025-13'"), ({"month": "202511"}, "month='202511'"),
    ({"format": "excel"}, "format='excel'")])
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, str], text: str) -> None:
    path = write(tmp_path / "c.csv", [CUSTOMS_HEADER, "202511,德国,5,千克,1"], "gb18030")
    assert text in str(error_of(path, **kwargs))


def test_ragged_csv_row(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-11,5",
                                      "US,2025-11,5,extra,cells"])
    assert error_of(path).row == 3


def test_customs_file_mixing_commodity_codes(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", ["数据年月,商品编码,贸易伙伴名称,第一数量,第一计量单位",
                                      "202511,85051110,德国,5,千克", "202511,85051190,德国,5,千克"],
                 "gb18030")
    error = error_of(path)
    assert (error.row, error.column) == (3, "商品编码") and "'85051190'" in str(error)


@pytest.mark.parametrize(("cells", "tonnes"), [
    (["1,302", "12"], [1302.0, 12.0]),  # thousands comma (the customs convention)
    (["1,302,250.5", "2.25"], [1302250.5, 2.25]),
    (["1.302,5", "7"], [1302.5, 7.0]),  # decimal comma, detected from the column
    (["1.302,5", "1.302"], [1302.5, 1302.0]),  # then 1.302 is 1302
    (["1302,25", "1,302"], [1302.25, 1.302]),
    (["1 302 250", "12,5"], [1302250.0, 12.5]),  # spaces between groups of three
    (["1\u00a0302", "5e3"], [1302.0, 5000.0]),
])
def test_number_formats_detected_per_column(tmp_path: Path, cells: list[str],
                                            tonnes: list[float]) -> None:
    de, us = cells
    lines = ["destination,month,tonnes", f'DE,2025-11,"{de}"', f'US,2025-11,"{us}"']
    panel = load_panel(write(tmp_path / "p.csv", lines))
    assert panel.set_index("unique_id").loc[["DE", "US"], "y"].tolist() == tonnes


def test_limits_are_settings(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,1985-01,2e7"])
    assert "data.min_month" in str(error_of(path))
    with pytest.raises(InputError, match="data.max_value=1e\\+07"):
        load_panel(path, limits=Limits(min_month="1980-01"))
    panel = load_panel(path, limits=Limits(max_value=1e8, min_month="1980-01"))
    assert panel["y"].tolist() == [2e7]


def test_future_is_relative_to_the_current_month(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-10,5", "DE,2025-11,5"])
    today = pd.Timestamp("2025-10-20")
    error = error_of(path, limits=Limits(today=today))
    assert (error.row, error.column) == (3, "month") and "after 2025-10" in str(error)
    assert len(load_panel(path, limits=Limits(today=pd.Timestamp("2025-11-01")))) == 2


def test_unreadable_path(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    assert "cannot read the file" in str(error_of(tmp_path / "dir.csv"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_file_without_read_permission(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ["destination,month,tonnes", "DE,2025-10,5"])
    path.chmod(0)
    assert "cannot read the file (Permission denied)" in str(error_of(path))
