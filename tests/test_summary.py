"""The printed summary tells the story: the published choice, its numbers, files, UI, aliases."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from forecasting import api
from forecasting.cli import format_report
from forecasting.publish import read_published
from forecasting.summary import identical_models, top_series
from tests.conftest import build_panel
from tests.test_api import CHEAP

# on smooth series Croston, ADIDA and IMAPA all reduce to the same exponential smoothing
INTERMITTENT = ["models.forecasters.intermittent.models=[{_target_:statsforecast.models."
                "CrostonOptimized,alias:CrostonOptimized},{_target_:statsforecast.models.ADIDA,"
                "alias:ADIDA},{_target_:statsforecast.models.IMAPA,alias:IMAPA}]",
                "models.routing.intermittent=IMAPA"]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    """A tracked, published, plotted run of a 4-destination panel with WORLD; its report."""
    tmp = tmp_path_factory.mktemp("story")
    panel = build_panel(n_series=4, months=48, seed=7)
    overrides = [*[o for o in CHEAP if o != "~models.forecasters.intermittent"], *INTERMITTENT,
                 "data.hierarchy=world", "data.destinations=[DE,US,KR]", "plots=true",
                 "tracking.enabled=true", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
                 "publish.enabled=true", f"publish.dir={tmp}/pub"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        result = api.run(panel, overrides, run_dir=tmp / "run")
        cfg = api.config(overrides)
    return panel, result, format_report(result, cfg), tmp


def test_it_opens_with_what_was_published_and_why(story) -> None:
    _, result, text, _ = story
    first = text.splitlines()[0]
    evidence = result.published_choice.evidence
    assert first.startswith(f"published: {result.published_choice.model} (best backtest MASE)")
    assert f"MSIS80 {evidence['msis_80']:.2f}" in first
    assert f"on {int(evidence['n_scored'])} cells of 5 series (reported_derived)" in first


def test_next_three_months_match_the_published_csv(story) -> None:
    _, result, text, _ = story
    published = read_published(result.published.csv_paths["status_quo"]).set_index(
        ["destination", "month"])
    block = text[text.index("Next 3 months"):text.index("Files:")].strip().splitlines()
    header, rows = block[1].split(), block[2:]
    assert header == ["series", "2023-01", "2023-02", "2023-03"]
    order = top_series(result.panel, n=5)
    assert [r.split()[0] for r in rows] == order and order[0] == "WORLD" and len(order) == 5
    modelled = result.panel  # JP is folded into OTHER
    last_year = modelled.loc[modelled["ds"] >= "2022-01-01"].groupby("unique_id")["y"].sum()
    assert list(last_year.drop("WORLD").sort_values(ascending=False).index) == order[1:]
    for row in rows:
        cells = re.findall(r"([\d,]+\.\d) \(([\d,]+\.\d)-([\d,]+\.\d)\)", row)
        assert len(cells) == 3
        for month, cell in zip(header[1:], cells, strict=True):
            want = published.loc[(row.split()[0], month), ["tonnes", "lo_80", "hi_80"]]
            assert [float(v.replace(",", "")) for v in cell] == pytest.approx(list(want))


def test_it_says_where_the_files_are_and_how_to_open_the_ui(story) -> None:
    _, result, text, tmp = story
    files = text[text.index("Files:"):text.index("Leaderboard")]
    assert f"run directory: {tmp / 'run'} (" in files
    assert "plots: backtest.png, mase_by_horizon.png, fan_status_quo.png" in files
    assert (f"published: {tmp / 'pub' / '2022-12'} (forecast_status_quo.csv, history.csv, "
            "manifest.json, report.html") in files
    assert f"mlflow run: {result.run_id} (sqlite:///{tmp}/mlflow.db)" in files
    assert "registered model: models:/magnet-forecasting/1 (alias candidate" in files
    assert f"`make ui TRACKING_URI=sqlite:///{tmp}/mlflow.db`" in files


def test_identical_models_share_one_row(story) -> None:
    _, result, text, _ = story
    board = text[text.index("Leaderboard"):text.index("Per series")]
    assert "ADIDA = CrostonOptimized = IMAPA" in board
    assert not re.search(r"\d\s+IMAPA\s", board)  # no row of its own
    models = list(result.leaderboard["model"])
    groups = identical_models(result.backtest, models)
    assert ["ADIDA", "CrostonOptimized", "IMAPA"] in groups
    assert ["Naive", "Routed"] in groups  # routing sent every (smooth) series to Naive
    assert ["SeasonalNaive"] in groups  # different forecasts stay apart
    assert sum(len(g) for g in groups) == len(models)


def test_a_changed_forecast_is_no_longer_an_alias(story) -> None:
    _, result, _, _ = story
    bt = result.backtest.copy()
    bt.loc[bt.index[-1], "IMAPA"] += 1.0
    assert ["ADIDA", "CrostonOptimized"] in identical_models(bt, ["ADIDA", "CrostonOptimized",
                                                                  "IMAPA"])
    assert pd.notna(bt["IMAPA"]).any()

