"""The monthly routine on the bundled data: two publications (2025-06, 2025-09), then a later run
(2025-12) that scores both (scorecard.csv, MLflow, forecast-scorecard) and writes report.html."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient

from forecasting import scorecard_cli
from forecasting.cli import CONF_DIR
from forecasting.inputs import load_input
from forecasting.job import run_job
from forecasting.publish import HISTORY_NAME, read_history, read_published
from forecasting.report import history_changes
from forecasting.schema import DEFAULT_DESTINATIONS, ID_COL, STATUS_COL, TARGET_COL, TIME_COL
from forecasting.scorecard import CARD_COLUMNS, SCORED, TOLERANCE

# SeasonalNaive and Naive only: the routine, not the models, is under test
CHEAP = ["models=stats", "~models.forecasters.intermittent",
         "~models.forecasters.stats.combinations",
         "models.forecasters.stats.models=[{_target_:statsforecast.models.SeasonalNaive,"
         "season_length:12,alias:SeasonalNaive},{_target_:statsforecast.models.Naive,alias:Naive}]",
         "models.routing.smooth=Naive", "models.routing.intermittent=Naive"]
SCENARIOS = ("controls_reimposed", "easing", "status_quo")


def month_cfg(tmp: Path, as_of: str, *overrides: str):
    """The real conf/ on the bundled data: cheap models, 2 folds, 4 months published."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            *CHEAP, "backtest.h=2", "backtest.n_windows=2", "publish.h=4", "progress=false",
            "plots=false", "tracking.enabled=false", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            f"publish.dir={tmp}/pub", f"as_of={as_of}", *overrides])


@pytest.fixture(scope="module")
def routine(tmp_path_factory: pytest.TempPathFactory):
    """Publish 2025-06 (SeasonalNaive) and 2025-09, then run 2025-12 with tracking and plots."""
    tmp = tmp_path_factory.mktemp("routine")
    first = run_job(month_cfg(tmp, "2025-06", "publish.choice=SeasonalNaive"), run_dir=tmp / "r1")
    second = run_job(month_cfg(tmp, "2025-09"), run_dir=tmp / "r2")
    later = run_job(month_cfg(tmp, "2025-12", "tracking.enabled=true", "plots=true",
                              "scenario=all"), run_dir=tmp / "r3")
    return tmp, first, second, later


def now_panel() -> pd.DataFrame:
    """The bundled panel as known now."""
    return load_input({"destinations": list(DEFAULT_DESTINATIONS), "path": None}).panel_at(None)


def test_the_first_publication_has_nothing_to_score(routine) -> None:
    _, first, _, _ = routine
    assert first.scorecard.publications == []
    assert first.scorecard.table().startswith("scorecard: no earlier publication in ")
    assert list(pd.read_csv(first.files["scorecard.csv"]).columns) == list(CARD_COLUMNS)


def test_the_later_run_scores_both_on_reported_and_derived_cells_only(routine) -> None:
    tmp, _, _, later = routine
    card = later.scorecard
    assert list(card.summary["as_of"]) == ["2025-06", "2025-09"]
    assert set(card.cells[STATUS_COL]) <= set(SCORED)
    now = now_panel().rename(columns={ID_COL: "destination"})
    now["month"] = now[TIME_COL].dt.strftime("%Y-%m")
    for as_of, row in card.summary.set_index("as_of").iterrows():
        pub = read_published(tmp / "pub" / as_of / "forecast_status_quo.csv")
        due = pub.merge(now, on=["destination", "month"])
        assert row["n_due"] == len(due) > row["n_scored"]  # estimated months are not scored
        assert row["n_scored"] == due[STATUS_COL].isin(SCORED).sum() > 0
    written = pd.read_csv(later.files["scorecard.csv"])
    assert len(written) == len(card.cells) == card.summary["n_scored"].sum()


def test_one_cell_by_hand(routine) -> None:
    _, _, _, later = routine
    cell = later.scorecard.cells.set_index(["as_of", "destination", "month"]).loc[
        ("2025-06", "US", "2025-09")]
    actual = now_panel().set_index([ID_COL, TIME_COL]).loc[("US", pd.Timestamp("2025-09-01"))]
    assert actual[STATUS_COL] == "reported" and actual[TARGET_COL] == 420.5
    then = load_input({"destinations": list(DEFAULT_DESTINATIONS), "path": None}).panel_at(
        pd.Timestamp("2025-06-01")).set_index([ID_COL, TIME_COL])
    snaive = then.loc[("US", pd.Timestamp("2024-09-01")), TARGET_COL]  # 12 months earlier
    assert cell["horizon"] == 3 and cell["actual"] == 420.5
    assert cell["snaive"] == pytest.approx(snaive)
    assert cell["error"] == pytest.approx(cell["tonnes"] - 420.5)
    assert cell["ape"] == pytest.approx(100 * abs(cell["tonnes"] - 420.5) / 420.5)
    assert cell["snaive_error"] == pytest.approx(snaive - 420.5)
    assert cell["held_80"] == 1.0 and cell["lo_80"] <= 420.5 <= cell["hi_80"]
    assert cell["snaive_held_80"] == 0.0 and cell["snaive_lo_80"] > 420.5  # SN's band missed


def test_held_flags_follow_the_bounds(routine) -> None:
    cells = routine[3].scorecard.cells
    for prefix in ("", "snaive_"):
        for level in (80, 95):
            inside = ((cells[f"{prefix}lo_{level}"] - TOLERANCE <= cells["actual"])
                      & (cells["actual"] <= cells[f"{prefix}hi_{level}"] + TOLERANCE))
            assert (cells[f"{prefix}held_{level}"] == inside.astype(float)).all()
    assert (cells["snaive_held_80"] == 0).any() and (cells["held_80"] == 1).any()


def test_seasonal_naive_is_made_from_the_history_known_at_the_publication(routine) -> None:
    # 2025-06 was published from SeasonalNaive: refitted on the panel as known then, it gives
    # the published numbers back; the panel known now (estimates moved since) would not.
    cells = routine[3].scorecard.cells
    first = cells.loc[cells["as_of"] == "2025-06"]
    assert len(first) > 10
    assert ((first["tonnes"] - first["snaive"]).abs() <= TOLERANCE + 1e-9).all()


def test_scorecard_logged_to_mlflow(routine) -> None:
    tmp, _, _, later = routine
    run = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlflow.db").get_run(later.run_id)
    assert run.data.metrics["scorecard_n_publications"] == 2
    assert run.data.metrics["scorecard_n_scored"] == len(later.scorecard.cells)
    assert run.data.metrics["scorecard_mape"] == pytest.approx(
        later.scorecard.cells["ape"].mean())
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp}/mlflow.db")
    assert "scorecard.csv" in {a.path for a in client.list_artifacts(later.run_id)}
    published = {a.path for a in client.list_artifacts(later.run_id, "published")}
    assert {"published/report.html", f"published/{HISTORY_NAME}"} <= published


def test_console_script_scores_every_publication(routine, tmp_path, capsys) -> None:
    tmp, _, _, later = routine
    scorecard_cli.main(["--publish-dir", str(tmp / "pub"), "--out", str(tmp_path / "c.csv")])
    out = capsys.readouterr().out
    assert "Scorecard of 3 earlier publication(s)" in out and "2025-09" in out
    card = pd.read_csv(tmp_path / "c.csv")  # 2025-12 has no month known yet: same cells
    assert len(card) == len(later.scorecard.cells)
    scorecard_cli.main(["--publish-dir", str(tmp_path / "none"), "--out", str(tmp_path / "x")])
    assert "no earlier publication" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()


def test_console_script_refuses_a_changed_publication(routine, tmp_path, capsys) -> None:
    pub = shutil.copytree(routine[0] / "pub", tmp_path / "pub")
    path = pub / "2025-06" / "forecast_status_quo.csv"
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(SystemExit) as exit_info:
        scorecard_cli.main(["--publish-dir", str(pub), "--out", str(tmp_path / "c.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "forecast_status_quo.csv" in err and "sha256" in err
    assert not (tmp_path / "c.csv").exists()


class _Page(HTMLParser):
    """Section ids, <img> attributes and every attribute value of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        attrs_d = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.sections.append(attrs_d["id"])
        if tag == "img":
            self.images.append(attrs_d)


def test_report_is_one_self_contained_page(routine) -> None:
    tmp, _, _, later = routine
    text = (later.published.directory / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    assert page.sections == ["identifiers", "changes", "fan-charts", "scenarios",
                             "series-index", "leaderboard", "scorecard", "provenance"]
    assert "All <b>8</b> published series" in text  # the series index lists every one
    fans = [img for img in page.images if img["alt"].startswith("fan chart ")]
    assert sorted(img["alt"] for img in fans) == [f"fan chart {s}" for s in SCENARIOS]
    for img in page.images:
        head, data = img["src"].split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in text and "https://" not in text
    assert not page.tags & {"script", "link", "iframe"}
    manifest = later.published.manifest
    for key in ("mlflow_run_id", "data_hash", "git_commit"):
        assert manifest[key] in text
    assert f"{int(later.leaderboard['n_scored'].iloc[0])}</b> cells" in text


def test_report_lists_what_changed_since_the_last_publication(routine) -> None:
    tmp, _, _, later = routine
    before = read_history(tmp / "pub" / "2025-09" / HISTORY_NAME)
    now = read_history(tmp / "pub" / "2025-12" / HISTORY_NAME)
    changes = history_changes(before, now)
    assert len(changes["new"]) > 0 and set(changes["new"]["status_now"]) <= set(SCORED)
    text = (later.published.directory / "report.html").read_text(encoding="utf-8")
    assert f"<b>{len(changes['new'])}</b> new reported or derived figures" in text
    assert f"<b>{len(changes['revised'])}</b> revisions" in text


def test_every_publication_keeps_its_history_and_report(routine) -> None:
    tmp = routine[0]
    for as_of in ("2025-06", "2025-09", "2025-12"):
        directory = tmp / "pub" / as_of
        manifest = json.loads((directory / "manifest.json").read_text())
        listed = {f["name"]: f["sha256"] for f in manifest["files"]}
        data = (directory / HISTORY_NAME).read_bytes()
        assert listed[HISTORY_NAME] == hashlib.sha256(data).hexdigest()
        history = read_history(directory / HISTORY_NAME)
        assert history["month"].max() == as_of
        assert sum(manifest["history_cells_by_status"].values()) == len(history)
        assert (directory / "report.html").is_file()
