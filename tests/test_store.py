"""The vintaged figure store: ingest, revisions unseen by earlier cutoffs, first vs latest."""

from __future__ import annotations

import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.data.store import (
    FIRST_COL,
    _transaction,
    knowledge_date,
    open_figures,
    read_figures,
)
from forecasting.ingest_cli import main as ingest_main
from forecasting.ingest_cli import run as ingest
from forecasting.inputs import load_input
from forecasting.job import run_job
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL, WORLD, InputError
from forecasting.settings import check_settings
from tests.conftest import build_panel

PRODUCT = "synth"
REVISED = ("2022-07", "2022-08", "2022-09", "2022-10", "2022-11")  # x1.5 on 2023-01-20
CHEAP_MODELS = (
    "models=stats", "~models.forecasters.intermittent", "~models.forecasters.stats.combinations",
    "models.forecasters.stats.models=[{_target_: statsforecast.models.SeasonalNaive, "
    "season_length: 12, alias: SeasonalNaive}, {_target_: statsforecast.models.Naive, "
    "alias: Naive}]",
    "models.routing.smooth=Naive", "models.routing.intermittent=Naive",
    "models.selection.top_k=2", "models.n_jobs=1")


def write_plain(path: Path, frame: pd.DataFrame) -> Path:
    """Figures (unique_id, ds, y) as the plain CSV destination,month,tonnes."""
    pd.DataFrame({"destination": frame[ID_COL], "month": frame[TIME_COL].dt.strftime("%Y-%m"),
                  "tonnes": frame[TARGET_COL]}).to_csv(path, index=False)
    return path


def figures_in(store: Path) -> tuple[int, int]:
    """(figures, ingests) rows of the store."""
    with sqlite3.connect(store) as con:
        return (con.execute("SELECT COUNT(*) FROM figures").fetchone()[0],
                con.execute("SELECT COUNT(*) FROM ingests").fetchone()[0])


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Two destinations, 48 months 2019-01..2022-12 (WORLD dropped: hierarchy none)."""
    panel = build_panel(n_series=2, months=48, seed=5)
    return panel[panel[ID_COL] != WORLD].reset_index(drop=True)


@pytest.fixture(scope="module")
def vintaged(tmp_path_factory: pytest.TempPathFactory, history: pd.DataFrame) -> Path:
    """A store where each month was first published mid next month, then 2022-07..09 revised."""
    tmp = tmp_path_factory.mktemp("store")
    store = tmp / "figures.db"
    month = history[TIME_COL].dt.strftime("%Y-%m")
    early = write_plain(tmp / "history.csv", history[month <= "2022-06"])
    ingest(early, vintage="2022-07-15", store=store, product=PRODUCT)
    for m in sorted(month[month > "2022-06"].unique()):
        file = write_plain(tmp / f"{m}.csv", history[month == m])
        release = (pd.Period(m, "M") + 1).start_time + pd.Timedelta(days=14)
        ingest(file, vintage=f"{release:%Y-%m-%d}", store=store, product=PRODUCT)
    revised = history[month.isin(REVISED)].assign(**{TARGET_COL: lambda f: f[TARGET_COL] * 1.5})
    ingest(write_plain(tmp / "revision.csv", revised), vintage="2023-01-20", store=store,
           product=PRODUCT)
    return store


def store_cfg(store: Path, *overrides: str):
    """The real conf/ with data=store on the synthetic product, cheap models, nothing written."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            "data=store", f"data.store={store}", f"data.product={PRODUCT}", *CHEAP_MODELS,
            "backtest.h=2", "backtest.n_windows=3", "backtest.n_jobs=1", "publish.h=2",
            "progress=false", "plots=false", "tracking.enabled=false", "publish.enabled=false",
            *overrides])


def value(panel: pd.DataFrame, uid: str, month: str) -> float:
    return float(panel.loc[(panel[ID_COL] == uid) & (panel[TIME_COL] == month), TARGET_COL]
                 .item())


def test_knowledge_date_is_the_end_of_the_release_month() -> None:
    assert knowledge_date(pd.Timestamp("2025-06-01")) == pd.Timestamp("2025-07-31")
    assert knowledge_date(pd.Timestamp("2025-12-01")) == pd.Timestamp("2026-01-31")


def test_a_cutoff_before_the_revision_does_not_see_it(vintaged: Path,
                                                      history: pd.DataFrame) -> None:
    data = load_input(store_cfg(vintaged).data)
    latest = data.panel_at(data.last_month)
    for cutoff in ("2022-08", "2022-09", "2022-10"):  # the backtest's cutoffs
        known = data.panel_at(pd.Timestamp(cutoff))
        assert value(known, "DE", "2022-07") == value(history, "DE", "2022-07")
        assert known[TIME_COL].max() == pd.Timestamp(cutoff)
    assert value(latest, "DE", "2022-07") == pytest.approx(1.5 * value(history, "DE", "2022-07"))
    # as_of: 2022-12 is known until 2023-01-31, after the revision's vintage; 2022-11 is not
    assert value(data.truncated("2022-11").panel_at(None), "US", "2022-09") == value(
        history, "US", "2022-09")
    assert value(data.truncated("2022-12").panel_at(None), "US", "2022-09") == pytest.approx(
        1.5 * value(history, "US", "2022-09"))
    # a month whose figure is not yet published at a cutoff is estimated, not read ahead
    before_release = data.panel_at(pd.Timestamp("2022-06"))
    assert before_release[TIME_COL].max() == pd.Timestamp("2022-06")


@pytest.fixture(scope="module")
def jobs(vintaged: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("jobs")
    return {v: run_job(store_cfg(vintaged, f"data.vintage={v}"), run_dir=tmp / v)
            for v in ("first", "latest")}


def test_backtest_forecasts_use_the_figures_known_at_each_cutoff(
        jobs: dict[str, object], history: pd.DataFrame) -> None:
    bt = pd.read_csv(jobs["latest"].files["backtest.csv"], parse_dates=[TIME_COL, "cutoff"])
    one = bt[(bt["cutoff"] == "2022-08-01") & (bt["horizon"] == 1)].set_index(ID_COL)
    for uid in ("DE", "US"):  # Naive repeats the cutoff month as first published, not revised
        assert one.loc[uid, "Naive"] == pytest.approx(value(history, uid, "2022-08"))


def test_first_and_latest_vintages_score_against_different_figures(
        jobs: dict[str, object], history: pd.DataFrame) -> None:
    actual = {}
    for v, result in jobs.items():
        bt = pd.read_csv(result.files["backtest.csv"], parse_dates=[TIME_COL])
        actual[v] = bt.loc[(bt[ID_COL] == "DE") & (bt[TIME_COL] == "2022-09"), "y"].iloc[0]
    assert actual["first"] == pytest.approx(value(history, "DE", "2022-09"))
    assert actual["latest"] == pytest.approx(1.5 * value(history, "DE", "2022-09"))
    mae = {v: r.leaderboard.set_index("model").loc["Naive", "mae"] for v, r in jobs.items()}
    assert mae["first"] != pytest.approx(mae["latest"])


def test_ingesting_the_same_file_twice_changes_nothing(vintaged: Path, tmp_path: Path,
                                                       history: pd.DataFrame) -> None:
    store = shutil.copy(vintaged, tmp_path / "copy.db")
    before = figures_in(store)
    revision = vintaged.parent / "revision.csv"
    for vintage in ("2023-01-20", None):  # again as of the same date, and as of today
        report = ingest(revision, vintage=vintage, store=store, product=PRODUCT)
        assert not report.changed and report.unchanged == 2 * len(REVISED)
        assert figures_in(store) == before


@pytest.mark.parametrize(("lines", "vintage", "fragment"), [
    (["destination,month,tonnes", "DE,2022-07,1", "US,2022-13,2"], "2023-02-01",
     "row 3, column 'month'"),
    (["destination,month,tonnes", "DE,2022-07,-5"], "2023-02-01", "column 'tonnes'"),
    (["destination,month,tonnes", "DE,2022-07,1"], "2022-07-31", "column '--vintage'"),
    (["destination,month,tonnes", "DE,2022-07,1"], "2023-02-30", "not a date"),
])
def test_a_bad_file_is_refused_whole_and_the_store_is_untouched(
        vintaged: Path, tmp_path: Path, lines: list[str], vintage: str, fragment: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = shutil.copy(vintaged, tmp_path / "copy.db")
    before = figures_in(store)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(SystemExit) as exit_:
        ingest_main([str(bad), "--vintage", vintage, "--store", str(store),
                     "--product", PRODUCT])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and fragment in err and err.count("\n") == 1
    assert figures_in(store) == before


def test_figures_are_never_deleted_or_updated(vintaged: Path) -> None:
    with sqlite3.connect(vintaged) as con, pytest.raises(sqlite3.DatabaseError, match="never"):
        con.execute("DELETE FROM figures")
    with sqlite3.connect(vintaged) as con, pytest.raises(sqlite3.DatabaseError, match="never"):
        con.execute("UPDATE figures SET value = 0")


def test_cli_lists_new_revised_and_conflicting_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.db"

    def cli(name: str, text: str, vintage: str) -> str:
        file = tmp_path / name
        file.write_text("destination,month,tonnes\n" + text)
        ingest_main([str(file), "--vintage", vintage, "--store", str(store), "--product",
                     PRODUCT])
        return capsys.readouterr().out

    out = cli("a.csv", "DE,2025-11,500\nJP,2025-11,\n", "2026-01-20")
    assert "new: 1\n  DE 2025-11: 500 (reported)" in out and "skipped: 1" in out
    out = cli("b.csv", "DE,2025-11,550\nDE,2025-12,520\n", "2026-02-20")
    assert "new: 1\n  DE 2025-12: 520 (reported)" in out
    assert "revised: 1\n  DE 2025-11: 500 -> 550 (+50, +10.0%)" in out
    out = cli("c.csv", "DE,2025-11,560\n", "2026-02-20")
    assert "conflicts (same vintage, different value; the later ingest wins): 1" in out
    assert "DE 2025-11: stored 550, this file 560" in out
    out = cli("c.csv", "DE,2025-11,560\n", "2026-02-20")
    assert "nothing changed" in out and "same file as ingest" in out


def test_concurrent_ingests_both_land(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    files = []
    for i, uid in enumerate(("DE", "US", "JP", "KR")):
        file = tmp_path / f"{uid}.csv"
        file.write_text(f"destination,month,tonnes\n{uid},2025-11,{100 + i}\n")
        files.append(file)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda f: ingest(f, vintage="2026-01-10", store=store,
                                                 product=PRODUCT), files))
    assert all(r.changed for r in reports)
    assert len(open_figures(store, PRODUCT).figures) == 4


def test_a_seeded_store_gives_the_bundled_panel_at_each_cutoff(tmp_path: Path) -> None:
    store = tmp_path / "magnets.db"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        from_store = load_input(compose("config", overrides=[
            "data=store", f"data.store={store}"]).data)
        bundled = load_input(compose("config").data)
    assert from_store.hierarchy == "world" and from_store.store.bundle_shaped
    for cutoff in (pd.Timestamp("2025-06"), from_store.last_month):
        pd.testing.assert_frame_equal(from_store.panel_at(cutoff), bundled.panel_at(cutoff))
    # US 2025-01: 877 t first published, 877.3 t in a source of November 2025
    assert value(from_store.panel_at(pd.Timestamp("2025-06")), "US", "2025-01") == 877.0
    assert value(from_store.panel_at(from_store.last_month), "US", "2025-01") == 877.3
    sums = read_figures(store, sums=True)
    sums = sums[sums[FIRST_COL] != sums[TIME_COL]]  # year-to-date and annual sums are kept
    assert ((sums[ID_COL] == WORLD) & (sums[FIRST_COL] == "2016-01")
            & (sums[TIME_COL] == "2016-07") & (sums[TARGET_COL] == 14924.0)).any()


def test_an_unknown_product_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["data=store", f"data.store={tmp_path}/s.db",
                                           "data.product=nothing"])
    with pytest.raises(InputError, match="data.product"):
        load_input(cfg.data)


def test_an_error_inside_the_transaction_rolls_everything_back(vintaged: Path,
                                                                tmp_path: Path) -> None:
    store = shutil.copy(vintaged, tmp_path / "copy.db")
    before = figures_in(store)
    with pytest.raises(sqlite3.IntegrityError), _transaction(Path(store)) as con:
        con.execute("INSERT INTO ingests (file, sha256, format, product, ingested_at, n_new, "
                    "n_revised, n_conflicts) VALUES ('x', 'x', 'plain', 'synth', 'now', 1, 0, 0)")
        con.execute("INSERT INTO figures (product, series, first_month, month, value, status, "
                    "vintage, source, ingest_id) VALUES ('synth', 'DE', '2022-01', '2022-01', "
                    "1, 'estimated', '2023-01-01', 'x', 1)")  # estimates are never stored
    assert figures_in(store) == before


@pytest.mark.parametrize(("override", "fragment"), [
    ("data.vintage=second", "is not one of first, latest"),
    ("data.product=../x", "is not a safe name"),
    ("data.store=7", "is not a str"),
])
def test_bad_store_settings_name_themselves(override: str, fragment: str) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["data=store", override])
    with pytest.raises(InputError, match=fragment) as err:
        check_settings(cfg)
    assert err.value.column == override.split("=")[0]


def test_a_customs_file_gives_absent_known_partners_zero(tmp_path: Path) -> None:
    file = tmp_path / "customs.csv"
    file.write_text("数据年月,商品编码,贸易伙伴名称,第一数量,第一计量单位\n"
                    '202601,85051110,德国,"512,300",千克\n202601,85051110,美国,"300,000",千克\n',
                    encoding="utf-8")
    report = ingest(file, vintage="2026-02-20", store=tmp_path / "magnets.db")
    new = report.new.set_index(ID_COL)[TARGET_COL]
    assert new["DE"] == 512.3 and new["US"] == 300.0
    assert {uid: new[uid] for uid in ("KR", "JP", "IN", "VN")} == dict.fromkeys(
        ("KR", "JP", "IN", "VN"), 0.0)  # seeded partners absent from the month shipped 0 t
    assert WORLD not in new.index  # customs files carry no WORLD; none is invented
