"""report.html without a job: what changed between two published histories, and the page's
honest notes when the previous publication kept no history or the run drew no plots."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.inputs import ModelInput, load_input
from forecasting.publish import HISTORY_NAME, publish
from forecasting.report import REPORT_NAME, history_changes, write_report
from forecasting.scorecard import find_publications, scorecard
from tests.test_publish import coherent
from tests.test_scorecard import _Page


def history(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """A published history frame (destination, month, tonnes, status)."""
    return pd.DataFrame(rows, columns=["destination", "month", "tonnes", "status"])


def test_history_changes_new_revised_and_re_estimated() -> None:
    before = history([("DE", "2025-01", 100.0, "reported"), ("DE", "2025-02", 50.0, "estimated"),
                      ("DE", "2025-03", 60.0, "estimated"), ("US", "2025-01", 10.0, "reported")])
    now = history([("DE", "2025-01", 110.0, "reported"), ("DE", "2025-02", 55.0, "reported"),
                   ("DE", "2025-03", 61.0, "estimated"), ("DE", "2025-04", 70.0, "derived"),
                   ("US", "2025-01", 10.0, "reported")])
    changes = history_changes(before, now)
    assert list(zip(changes["new"]["destination"], changes["new"]["month"],
                    strict=True)) == [("DE", "2025-02"), ("DE", "2025-04")]
    revised = changes["revised"]
    assert list(revised["month"]) == ["2025-01"] and list(revised["destination"]) == ["DE"]
    assert revised["change"].item() == 10.0 and revised["change_pct"].item() == pytest.approx(10.0)
    assert list(changes["re_estimated"]["month"]) == ["2025-03"]


def panel(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    """A modelling panel (unique_id, ds, y, status)."""
    df = pd.DataFrame(rows, columns=["unique_id", "ds", "y", "status"])
    return df.assign(ds=pd.to_datetime(df["ds"]))


def known_now(tmp_path) -> ModelInput:
    """A real plain file whose figures end before the published months: nothing to score."""
    path = tmp_path / "known.csv"
    path.write_text("destination,month,tonnes\n" + "".join(
        f"DE,{m:%Y-%m},{100 + i}\n" for i, m in enumerate(pd.date_range(
            "2023-01-01", "2025-12-01", freq="MS"))))
    return load_input({"destinations": ["DE"], "path": str(path)})


def test_report_notes_a_previous_publication_without_history(tmp_path) -> None:
    publish({"status_quo": coherent()}, as_of="2025-11", out_dir=tmp_path)  # no history.csv
    known = panel([("DE", "2025-11", 800.0, "reported"), ("DE", "2025-12", 812.0, "estimated")])
    res = publish({"status_quo": coherent()}, as_of="2025-12", out_dir=tmp_path, history=known)
    assert (res.directory / HISTORY_NAME).is_file()
    card = scorecard(tmp_path, known_now(tmp_path), before="2025-12")
    path = write_report(res, forecasts={"status_quo": coherent()}, history=known, card=card)
    assert path == res.directory / REPORT_NAME
    text = path.read_text(encoding="utf-8")
    assert "(2025-11) does not keep its history" in text
    assert "Charts were not drawn (plots=false)" in text
    page = _Page()
    page.feed(text)
    assert page.images == [] and "scorecard" in page.sections
    assert "No backtest leaderboard" in text
    assert [p.as_of for p in find_publications(tmp_path)] == ["2025-11", "2025-12"]


def test_report_lists_a_revision_against_the_previous_history(tmp_path) -> None:
    before = panel([("DE", "2025-10", 700.0, "reported"), ("DE", "2025-11", 790.0, "estimated")])
    publish({"status_quo": coherent()}, as_of="2025-11", out_dir=tmp_path, history=before)
    now = panel([("DE", "2025-10", 707.0, "reported"), ("DE", "2025-11", 800.0, "reported"),
                 ("DE", "2025-12", 812.0, "estimated")])
    res = publish({"status_quo": coherent()}, as_of="2025-12", out_dir=tmp_path, history=now)
    card = scorecard(tmp_path, known_now(tmp_path), before="2025-12")
    text = write_report(res, forecasts={"status_quo": coherent()}, history=now,
                        card=card).read_text(encoding="utf-8")
    assert "<b>1</b> new reported or derived figures, <b>1</b> revisions" in text
    for cell in ("2025-10", "700.00", "707.00", "7.00", "1.00"):  # old -> new, +7 t, +1 %
        assert f"<td>{cell}</td>" in text



def test_series_index_lists_every_series_largest_first_and_marks_the_drawn_ones() -> None:
    from forecasting.plots import MAX_PANELS
    from forecasting.report import series_index

    months = pd.date_range("2024-01-01", "2025-12-01", freq="MS")
    ids = [f"P{i:02d}" for i in range(MAX_PANELS + 8)]  # more series than the charts draw
    hist = pd.DataFrame([(uid, m, float(10 * (i + 1)), "reported")
                         for i, uid in enumerate(ids) for m in months],
                        columns=["unique_id", "ds", "y", "status"])
    fc = pd.DataFrame([(uid, pd.Timestamp("2026-01-01") + pd.DateOffset(months=k), 1.0 + i,
                        "DOT") for i, uid in enumerate(ids) for k in range(3)],
                      columns=["unique_id", "ds", "forecast", "model"])
    index = series_index({"status_quo": fc}, hist, "status_quo")
    assert list(index["series"]) == ids[::-1]  # every series, largest recent tonnes first
    assert index["last 12 months (t)"].iloc[0] == 12 * 10 * len(ids)
    assert index["forecast status_quo (t)"].iloc[0] == 3 * len(ids)
    drawn = index.loc[index["in charts"] == "yes", "series"]
    assert list(drawn) == ids[::-1][:MAX_PANELS]  # the charts draw the largest only
