"""Loading customs, Comtrade and plain CSVs into the one validated panel."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.cells import Limits
from forecasting.data.comtrade import COLUMNS as COMTRADE_COLUMNS
from forecasting.data.load import detect_format, load_panel
from forecasting.data.partners import iso3_to_iso2, partner_to_iso2
from forecasting.schema import PANEL_COLUMNS

MONTHS = ("2025-09", "2025-10", "2025-11")
# tonnes per (partner, month); fractions of a tonne exercise the kg -> t division
TONNES = {
    ("DE", "德国", "DEU"): (1180.5, 1210.0, 1302.25),
    ("US", "美国", "USA"): (640.0, 655.125, 582.0),
    ("KR", "韩国", "KOR"): (890.0, 905.5, 1001.0),
    ("JP", "日本", "JPN"): (226.0, 0.0, 305.0),
}
CUSTOMS_HEADER = ("数据年月,商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,第一数量,第一计量单位,"
                  "第二数量,第二计量单位,美元")
EXTENDED_HEADER = ("商品编码,商品名称,贸易伙伴编码,贸易伙伴名称,贸易方式编码,贸易方式名称,"
                   "注册地编码,注册地名称,第一数量,第一计量单位,第二数量,第二计量单位,人民币")


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    """Write CSV lines to `path` in `encoding`; return the path."""
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def kg(tonnes: float) -> str:
    """Customs-style quoted kilograms with thousands separators."""
    return f'"{tonnes * 1000:,.0f}"'


def customs_lines() -> list[str]:
    """Monthly customs layout holding TONNES."""
    return [CUSTOMS_HEADER] + [
        f'{m.replace("-", "")},85051110,稀土永磁体,{i},{zh},{kg(t)},千克,,,"{t * 40:,.0f}"'
        for m_i, m in enumerate(MONTHS) for i, ((_, zh, _), ts) in enumerate(TONNES.items())
        for t in [ts[m_i]]]


def extended_lines(month_index: int) -> list[str]:
    """Extended layout of one month, each partner split over two trade modes and places."""
    lines = [EXTENDED_HEADER]
    for (_, zh, _), ts in TONNES.items():
        general = round(ts[month_index] * 0.7, 1)
        parts = [("10", "一般贸易", "3302", "深圳", general),
                 ("14", "进料加工贸易", "3301", "宁波", ts[month_index] - general)]
        lines += [f'85051110,稀土永磁体,1,{zh},{code},{mode},{reg},{place},{kg(t)},千克,,,"1"'
                  for code, mode, reg, place, t in parts]
    return lines


def comtrade_lines(rows: list[dict[str, str]]) -> list[str]:
    """Comtrade 47-column CSV of `rows` (missing cells blank, China monthly exports)."""
    base = {"typeCode": "C", "freqCode": "M", "reporterCode": "156", "reporterISO": "CHN",
            "flowCode": "X", "cmdCode": "850511", "partner2Code": "0", "motCode": "0",
            "customsCode": "C00"}
    out = io.StringIO()
    writer = csv.DictWriter(out, COMTRADE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**base, **row} for row in rows)
    return out.getvalue().splitlines()


def comtrade_rows() -> list[dict[str, str]]:
    """Comtrade rows holding TONNES, plus a mode-of-transport breakdown row that must be dropped."""
    rows = [{"period": m.replace("-", ""), "partnerCode": str(i + 1), "partnerISO": iso3,
             "partnerDesc": f"{iso3}, Côte d'Ivoire's neighbour",
             "netWgt": f"{ts[k] * 1000:.0f}"}
            for k, m in enumerate(MONTHS) for i, ((_, _, iso3), ts) in enumerate(TONNES.items())]
    return rows + [{**rows[0], "motCode": "1000", "netWgt": "99"}]


def expected_panel() -> pd.DataFrame:
    """The panel every equivalent file must load to."""
    rows = [(iso2, pd.Timestamp(m), ts[k], "reported")
            for (iso2, _, _), ts in TONNES.items() for k, m in enumerate(MONTHS)]
    frame = pd.DataFrame(rows, columns=list(PANEL_COLUMNS))
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


def test_customs_comtrade_and_plain_files_load_to_the_same_panel(tmp_path: Path) -> None:
    expected = expected_panel()
    plain = write(tmp_path / "plain.csv", ["destination,month,tonnes,source"] + [
        f"{r.unique_id},{r.ds:%Y-%m},{r.y},test" for r in expected.itertuples()])
    gb = write(tmp_path / "customs_gb.csv", customs_lines(), "gb18030")
    bom = write(tmp_path / "customs_bom.csv", customs_lines(), "utf-8-sig")
    comtrade = write(tmp_path / "comtrade.csv", comtrade_lines(comtrade_rows()), "iso-8859-1")
    extended = pd.concat([
        load_panel(write(tmp_path / f"ext{k}.csv", extended_lines(k), "gb18030"), month=m)
        for k, m in enumerate(MONTHS)]).sort_values(["unique_id", "ds"], ignore_index=True)
    for path in (plain, gb, bom, comtrade):
        pd.testing.assert_frame_equal(load_panel(path), expected)
    pd.testing.assert_frame_equal(extended, expected)
    assert [detect_format(p) for p in (plain, gb, bom, comtrade)] == [
        "plain", "customs", "customs", "comtrade"]


def test_panel_has_exactly_the_contract_columns_and_types(tmp_path: Path) -> None:
    panel = load_panel(write(tmp_path / "c.csv", customs_lines(), "gb18030"))
    assert tuple(panel.columns) == PANEL_COLUMNS
    assert panel["y"].dtype == np.float64
    assert (panel["ds"] == panel["ds"].dt.to_period("M").dt.to_timestamp()).all()
    assert "WORLD" not in set(panel["unique_id"])


def test_as_of_drops_later_months(tmp_path: Path) -> None:
    panel = load_panel(write(tmp_path / "c.csv", customs_lines(), "gb18030"), as_of="2025-10")
    assert panel["ds"].max() == pd.Timestamp("2025-10-01")
    assert len(panel) == 2 * len(TONNES)


def test_plain_defaults_status_collapses_identical_duplicates_and_keeps_missing(
        tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [
        "destination,month,tonnes", "de,2025-01,1000", "DE,2025-01,1000", "WORLD,2025-01,6357",
        "OTHER,2025-02,", "US,2025-02,\"1,200.5\""])
    panel = load_panel(path)
    assert panel["unique_id"].tolist() == ["DE", "OTHER", "US", "WORLD"]
    assert panel["status"].eq("reported").all()
    assert np.isnan(panel["y"].iloc[1]) and panel["y"].iloc[2] == 1200.5


def test_plain_keeps_estimated_status(tmp_path: Path) -> None:
    lines = ["destination,month,tonnes,status", "WORLD,2025-02,3586,estimated",
             "WORLD,2025-03,5324,reported"]
    path = write(tmp_path / "p.csv", lines)
    assert load_panel(path)["status"].tolist() == ["estimated", "reported"]


def test_customs_month_column_variant_and_tonne_unit(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", ["月份,贸易伙伴名称,第一数量,第一计量单位,人民币元",
                                      '202511,德国,"1,302.25",吨,"1"', "202511,中国香港,5,吨,1"],
                 "gb18030")
    panel = load_panel(path, month="2025-11")
    assert panel["unique_id"].tolist() == ["DE", "HK"]
    assert panel["y"].tolist() == [1302.25, 5.0]


def test_comtrade_world_other_and_missing_weight(tmp_path: Path) -> None:
    rows = [{"period": "202511", "partnerCode": "0", "partnerISO": "W00", "netWgt": "6150000"},
            {"period": "202511", "partnerCode": "899", "partnerISO": "_X",
             "partnerDesc": "Areas, nes", "netWgt": "1000"},
            {"period": "202511", "partnerCode": "490", "partnerISO": "S19",
             "partnerDesc": "Other Asia, nes", "netWgt": "500"},
            {"period": "202511", "partnerCode": "392", "partnerISO": "JPN", "netWgt": ""}]
    panel = load_panel(write(tmp_path / "ct.csv", comtrade_lines(rows)))
    assert panel["unique_id"].tolist() == ["JP", "OTHER", "WORLD"]
    assert np.isnan(panel["y"].iloc[0])
    assert panel["y"].iloc[1:].tolist() == [1.5, 6150.0]


def test_extended_layout_sums_trade_modes(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", extended_lines(2), "gb18030")
    panel = load_panel(path, month="2025-11")
    assert panel.set_index("unique_id")["y"].to_dict() == pytest.approx(
        {iso2: ts[2] for (iso2, _, _), ts in TONNES.items()})
    assert (panel["ds"] == pd.Timestamp("2025-11-01")).all()


@pytest.mark.parametrize(("name", "iso2"), [
    ("德国", "DE"), ("美国", "US"), ("韩国", "KR"), ("越南", "VN"), ("印度", "IN"),
    ("日本", "JP"), ("泰国", "TH"), ("墨西哥", "MX"), ("意大利", "IT"), ("波兰", "PL"),
    ("荷兰", "NL"), ("菲律宾", "PH"), ("英国", "GB"), ("俄罗斯联邦", "RU"), ("中国台湾", "TW"),
    ("捷克", "CZ"), ("柬埔寨", "KH"), ("刚果（金）", "CD"), (" 马来西亚 ", "MY"), ("火星", None)])
def test_partner_to_iso2(name: str, iso2: str | None) -> None:
    assert partner_to_iso2(name) == iso2


def test_iso3_to_iso2() -> None:
    assert [iso3_to_iso2(c) for c in ("DEU", "vnm", "W00")] == ["DE", "VN", None]


def test_ten_thousand_row_customs_file_loads_every_row(tmp_path: Path) -> None:
    names = ["德国", "美国", "韩国", "越南", "印度", "日本", "泰国", "墨西哥", "意大利", "波兰"]
    months = pd.period_range("1900-01", periods=1000, freq="M").strftime("%Y%m")
    lines = [CUSTOMS_HEADER] + [f'{m},85051110,稀土永磁体,1,{n},"{k:,}",千克,,,"1"'
                                for k, (m, n) in enumerate((m, n) for m in months for n in names)]
    path = write(tmp_path / "big.csv", lines, "gb18030")
    # its speed is a benchmark's business, not a timed test's; 1900-1983 is below the default floor
    panel = load_panel(path, limits=Limits(min_month="1900-01"))
    assert len(panel) == 10_000
    assert panel["y"].sum() == pytest.approx(sum(range(10_000)) / 1000)
