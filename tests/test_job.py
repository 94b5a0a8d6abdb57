"""End-to-end job on a small plain panel: files, MLflow run read back from SQLite, no look-ahead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from statsforecast.models import Naive, SeasonalNaive

from forecasting.backtest.run import run_backtest
from forecasting.cli import CONF_DIR
from forecasting.inputs import ModelInput
from forecasting.job import run_job
from forecasting.models.stats import StatsForecaster
from forecasting.publish import read_published
from forecasting.schema import CUTOFF_COL, ID_COL, TIME_COL, WORLD
from forecasting.tracking import PUBLISHED_METRICS, REVIEW_VIEW, SHARED_VIEW_TAG
from tests.conftest import build_panel


def write_plain(panel: pd.DataFrame, path: Path) -> Path:
    """The synthetic panel as the project's plain CSV."""
    plain = pd.DataFrame({"destination": panel[ID_COL], "month": panel[TIME_COL].dt.strftime(
        "%Y-%m"), "tonnes": panel["y"], "status": panel["status"]})
    plain.to_csv(path, index=False)
    return path


def small_cfg(tmp_path: Path, *overrides: str):
    """The real conf/ composed for a quick run on a 48-month synthetic panel."""
    data = write_plain(build_panel(n_series=3, months=48, seed=3), tmp_path / "panel.csv")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            f"data.path={data}", "models=stats", "backtest.h=2", "backtest.n_windows=4",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"publish.dir={tmp_path}/pub",
            "publish.h=4", "progress=false", *overrides])


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory):
    """One real job run shared by the tests below."""
    tmp = tmp_path_factory.mktemp("job")
    cfg = small_cfg(tmp)
    return cfg, run_job(cfg, run_dir=tmp / "run", run_name="test-job"), tmp


def test_job_writes_backtest_metrics_leaderboard(job) -> None:
    cfg, result, tmp = job
    bt = pd.read_csv(result.files["backtest.csv"])
    assert list(bt.columns[:6]) == ["unique_id", "ds", "cutoff", "horizon", "y", "status"]
    assert {"SeasonalNaive", "AutoETS", "Champion", "Ensemble", "Routed"} <= set(bt.columns)
    assert bt[CUTOFF_COL].nunique() == 4 and bt["horizon"].max() == 2
    metrics = pd.read_csv(result.files["metrics.csv"])
    assert list(metrics.columns) == ["model", "unique_id", "metric", "value", "n_scored"]
    board = pd.read_csv(result.files["leaderboard.csv"])
    assert board.loc[board["model"] == "SeasonalNaive", "skill"].item() == pytest.approx(0.0)
    assert board["mase"].is_monotonic_increasing
    assert (board["n_scored"] > 0).all()


def test_mlflow_run_read_back(job) -> None:
    cfg, result, tmp = job
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["backtest.h"] == "2"
    assert run.data.params["models.forecasters.stats.models.0.alias"] == "SeasonalNaive"
    assert run.data.tags["as_of"] == "2022-12"
    assert run.data.tags["scenario"] == "status_quo"
    assert len(run.data.tags["data_hash"]) == 16
    board = pd.read_csv(result.files["leaderboard.csv"]).set_index("model")
    assert run.data.metrics["mase_AutoETS"] == pytest.approx(board.loc["AutoETS", "mase"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"backtest.csv", "metrics.csv", "leaderboard.csv", "config.yaml"} <= artifacts
    published = {a.path for a in client.list_artifacts(result.run_id, "published")}
    assert {"published/manifest.json", "published/forecast_status_quo.csv"} <= published
    internal = Path(client.download_artifacts(result.run_id, "forecast_status_quo.csv", tmp))
    assert pd.read_csv(internal).columns[0] == "unique_id"  # not overwritten by the public CSV
    assert run.data.tags["published"].endswith("2022-12")
    children = mlflow.search_runs(experiment_ids=[run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert set(children["tags.model"]) == set(board.index)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    pub = run.data.tags["published_choice"]
    for key in PUBLISHED_METRICS:  # the key columns of the review view, on the parent run
        assert run.data.metrics[f"published_{key}"] == pytest.approx(board.loc[pub, key],
                                                                      abs=5e-4)
    assert run.data.tags["mlflow.note.content"].startswith(f"published: {pub} (")
    view = json.loads(experiment.tags[SHARED_VIEW_TAG + REVIEW_VIEW])
    for column in view["selectedColumns"]:
        kind, name = column.split(".", 1)
        assert name.strip("`") in (run.data.metrics if kind == "metrics" else run.data.tags)
    ets = children.loc[children["tags.model"] == "AutoETS", "run_id"].item()
    assert client.get_run(ets).data.params["season_length"] == "12"
    steps = {m.step for m in client.get_metric_history(ets, "fold_mase")}
    cutoffs = pd.to_datetime(pd.read_csv(result.files["backtest.csv"])[CUTOFF_COL].unique())
    assert steps <= {c.year * 100 + c.month for c in cutoffs} and len(steps) >= 2
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest


def test_published_csv_is_coherent_and_refuses_second_publish(job) -> None:
    cfg, result, tmp = job
    path = result.published.csv_paths["status_quo"]
    pub = read_published(path)
    assert pub["month"].min() == "2023-01" and pub["horizon"].max() == 4
    by_month = pub.groupby(["month", pub["destination"] == WORLD])["tonnes"].sum().unstack()
    assert (by_month[True] - by_month[False]).abs().max() <= 0.5  # rounding to 0.1 t
    manifest = json.loads(result.published.manifest_path.read_text())
    assert manifest["mlflow_run_id"] == result.run_id
    from forecasting.inputs import load_input

    panel = load_input(cfg.data).panel_at(None)
    counts = manifest["history_cells_by_status"]
    assert set(counts) == {"reported", "derived", "estimated"}
    assert counts == {k: int((panel["status"] == k).sum()) for k in counts}
    assert counts == result.provenance and sum(counts.values()) == len(panel)
    before = path.read_bytes()
    from forecasting.publish import PublishExistsError

    with pytest.raises(PublishExistsError, match="publish.overwrite=true"):
        run_job(cfg, run_dir=tmp / "run2")
    assert path.read_bytes() == before


def test_backtest_fold_ignores_everything_after_its_cutoff() -> None:
    panel = build_panel(n_series=3, months=48, seed=5)
    cutoff = pd.Timestamp("2021-06-01")
    changed = panel.copy()
    later = changed[TIME_COL] > cutoff
    changed.loc[later, "y"] = changed.loc[later, "y"] * 3 + 100
    stats = [StatsForecaster([SeasonalNaive(season_length=12, alias="SeasonalNaive"),
                              Naive(alias="Naive")])]

    def fold(raw: pd.DataFrame) -> pd.DataFrame:
        data = ModelInput(source="x", format="plain", destinations=("DE", "US", "KR"), raw=raw)
        bt = run_backtest(data.panel_at(None), stats, h=3, cutoffs=[cutoff], progress=False,
                          history_at=data.panel_at)
        return bt.drop(columns=["y", "status"])

    pd.testing.assert_frame_equal(fold(panel), fold(changed))


def test_bundled_panel_as_of_ignores_later_figures(tmp_path: Path) -> None:
    import shutil

    from forecasting.data.bundle import SOURCES_DIR, build_bundle

    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    path = tmp_path / "sources" / "magnet_exports_reported.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    later = (rows["month"] > "2025-03") & rows["destination"].isin(["JP", "KR"])
    rows.loc[later, "tonnes"] = (rows.loc[later, "tonnes"].astype(float) * 1.1).map(str)
    rows.to_csv(path, index=False)
    as_of = pd.Timestamp("2025-03-01")
    original, _ = build_bundle(as_of=as_of)
    perturbed, _ = build_bundle(tmp_path / "sources", as_of=as_of)
    pd.testing.assert_frame_equal(original, perturbed)
    # and the perturbation is visible once the later months are in view
    full_original, _ = build_bundle()
    full_perturbed, _ = build_bundle(tmp_path / "sources")
    assert not full_original["tonnes"].equals(full_perturbed["tonnes"])
    # estimates at the cutoff differ from the final panel's: they lean only on earlier figures
    early = original.set_index(["destination", "month"])["tonnes"]
    final = full_original.set_index(["destination", "month"])["tonnes"]
    assert (early.loc["US"] - final.loc["US"].loc[early.loc["US"].index]).abs().max() > 1.0


def test_a_job_failing_part_way_is_marked_failed_and_keeps_its_files(tmp_path: Path) -> None:
    cfg = small_cfg(tmp_path, "reconcile.method=not_a_method", "plots=false",
                    "~models.forecasters.intermittent", "models.routing.intermittent=Naive")
    with pytest.raises(ValueError, match="not_a_method"):
        run_job(cfg, run_dir=tmp_path / "run", run_name="fails")
    assert (tmp_path / "run" / "backtest.csv").exists()
    assert (tmp_path / "run" / "leaderboard.csv").exists()
    client = MlflowClient(tracking_uri=cfg.tracking.uri)
    exp = client.get_experiment_by_name(cfg.tracking.experiment)
    [run] = client.search_runs([exp.experiment_id], filter_string="attributes.run_name = 'fails'")
    assert run.info.status == "FAILED"
    assert {"backtest.csv", "leaderboard.csv"} <= {a.path for a in
                                                    client.list_artifacts(run.info.run_id)}
    assert not (tmp_path / "pub" / "2022-12").exists()  # nothing published (the lock stays)


def test_printed_report_holds_the_leaderboard_and_the_picks(job) -> None:
    from forecasting.cli import format_report

    cfg, result, _ = job
    text = format_report(result, cfg)
    assert "Leaderboard" in text and "publish.choice=auto" in text
    assert text.startswith(f"published: {result.published_choice.model} (")
    board_part, picks_part = text[text.index("Leaderboard"):].split("Per series")
    rows = [re.match(r"\s*\d+\s+(\S+(?: = \S+)*)\s", ln) for ln in board_part.splitlines()[2:]]
    ranked_models = [m for row in rows if row for m in row.group(1).split(" = ")]
    assert ranked_models == list(result.leaderboard["model"])  # merged rows keep the order
    rows = [ln.split() for ln in picks_part.splitlines()[2:] if ln.strip()]
    assert [r[0] for r in rows] == list(result.choice["unique_id"])
    assert [r[1] for r in rows] == list(result.choice["champion"])


def test_as_of_outside_the_data_is_refused_and_inside_it_cuts() -> None:
    raw = build_panel(n_series=2, months=30, seed=6)
    data = ModelInput(source="x", format="plain", destinations=("DE", "US"), raw=raw)
    for outside in ("2030-01", "1999-01"):
        with pytest.raises(ValueError, match=f"as_of={outside} is .* the data of x"):  # InputError
            data.truncated(outside)
    cut = data.truncated("2020-06")
    assert cut.last_month == pd.Timestamp("2020-06-01")
    assert cut.panel_at(None)[TIME_COL].max() == pd.Timestamp("2020-06-01")


def test_champion_and_ensemble_exist_when_windows_do_not_exceed_the_horizon(tmp_path) -> None:
    cfg = small_cfg(tmp_path, "backtest.n_windows=6", "backtest.h=6", "tracking.enabled=false",
                    "publish.enabled=false", "plots=false")
    result = run_job(cfg, run_dir=tmp_path / "run")
    board = result.leaderboard.set_index("model")
    assert {"Champion", "Ensemble"} <= set(board.index)
    assert (board.loc[["Champion", "Ensemble"], "n_scored"] > 0).all()
    bt = pd.read_csv(result.files["backtest.csv"])
    first = bt[CUTOFF_COL].min()
    assert bt.loc[bt[CUTOFF_COL] == first, "Champion"].isna().all()  # nothing realised yet
    assert bt.loc[bt[CUTOFF_COL] > first, "Champion"].notna().any()
