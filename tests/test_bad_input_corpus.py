"""The bad-input corpus (tests/data/bad_inputs): each file gives its one-line InputError."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from forecasting.backtest.metrics import SCORE_ON
from forecasting.data.load import load_panel
from forecasting.inputs import load_input
from forecasting.schema import InputError

CORPUS = Path(__file__).parent / "data" / "bad_inputs"
CASES = list(csv.DictReader((CORPUS / "expected.csv").open(encoding="utf-8")))


def test_the_corpus_covers_every_format() -> None:
    prefixes = {case["file"].split("_", 1)[0] for case in CASES}
    assert len(CASES) >= 60 and prefixes == {"plain", "customs", "comtrade", "long"}
    assert sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.csv") == sorted(
        case["file"] for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_bad_file_names_file_row_and_column(case: dict[str, str]) -> None:
    path = CORPUS / case["file"]
    with pytest.raises(InputError) as info:
        load_panel(path, format=case["format"])
    error, text = info.value, str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    assert error.row == (int(case["row"]) if case["row"] else None)
    assert error.column == (case["column"] or None)
    assert case["fragment"] in text


def good_plain(path: Path) -> Path:
    """A valid plain file: DE, US and WORLD, 2023-01 to 2025-06."""
    months = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)][:30]
    lines = ["destination,month,tonnes"] + [f"{d},{m},{100 + k}" for k, m in enumerate(months)
                                            for d in ("DE", "US", "WORLD")]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            *overrides: str) -> tuple[int, str]:
    """Run `forecast` in this process (the worktree's code) with every output under tmp_path;
    return its exit status and the stderr lines starting with 'error:'."""
    from forecasting.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [
        "forecast", f"hydra.run.dir={tmp_path}/run", f"publish.dir={tmp_path}/pub",
        f"tracking.uri=sqlite:///{tmp_path}/m.db", "progress=false", "plots=false",
        "backtest.n_windows=2", *overrides])
    with pytest.raises(SystemExit) as info:
        main()
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    return info.value.code, errors[0]


@pytest.mark.parametrize(("name", "overrides", "fragments"), [
    ("plain_1e308.csv", (), ["row 5", "column 'tonnes'", "data.max_value"]),
    ("plain_nul_in_number.csv", (), ["row 5", "column 'tonnes'", "control character"]),
    ("plain_month_future.csv", (), ["row 5", "column 'month'", "in the future"]),
    ("customs_mixed_separators.csv", (), ["row 4", "column '第一数量'", "decimal comma"]),
    ("long_inf_y.csv", ("data.format=long",), ["row 5", "column 'y'", "not a finite number"]),
    (None, ("data.destinations=[ZZ]",), ["column 'data.destinations'", "'ZZ'"]),
    (None, ("data.destinations=[de,US]",), ["data.destinations", "did you mean DE?"]),
    (None, ("as_of=2026-03",), ["column 'as_of'", "after the data", "2023-01 to 2025-06"]),
    (None, ("as_of=1999-01",), ["column 'as_of'", "before the data"]),
    (None, ("data.max_value=-1",), ["column 'data.max_value'", "outside"]),
])
def test_cli_exit_2_one_line_and_nothing_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str | None, overrides: tuple[str, ...], fragments: list[str]) -> None:
    path = CORPUS / name if name else good_plain(tmp_path / "good.csv")
    code, line = run_cli(tmp_path, monkeypatch, capsys, f"data.path={path}", *overrides)
    assert code == 2
    assert all(fragment in line for fragment in fragments), line
    assert sorted(p.name for p in tmp_path.iterdir()) == (["good.csv"] if name is None else [])


def test_all_estimated_file_cannot_be_scored_on_reported_cells(tmp_path: Path) -> None:
    path = tmp_path / "est.csv"
    path.write_text("destination,month,tonnes,status\nDE,2025-01,5,estimated\n"
                    "DE,2025-02,6,estimated\n")
    data = load_input({"path": str(path), "destinations": ["DE"]})
    with pytest.raises(InputError, match="no figure is reported or derived .2 estimated., so "
                                         "backtest.score_on=reported_derived scores nothing"):
        data.check_scored(SCORE_ON["reported_derived"], score_on="reported_derived")
    data.check_scored(SCORE_ON["all"], score_on="all")


def test_a_valid_destination_absent_from_the_file_is_allowed(tmp_path: Path) -> None:
    data = load_input({"path": str(good_plain(tmp_path / "good.csv")),
                       "destinations": ["DE", "US", "KR"]})
    assert set(data.panel_at(None)["unique_id"]) == {"DE", "US", "OTHER", "WORLD"}
