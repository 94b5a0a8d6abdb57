"""The bad-input corpus (tests/data/bad_inputs): each file gives its one-line InputError."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from forecasting.data.load import load_panel
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
