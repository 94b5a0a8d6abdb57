"""`forecast-runs`: parent runs only, newest first, group filter, and a clean exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from forecasting.runs_cli import COLUMNS, main, model_aliases, runs_table

EXPERIMENT = "magnet-test"


def log_job(experiment_id: str, *, name: str, group: str, aliases: list[str], best: str,
            mase: float, skill: float) -> str:
    """A parent run shaped like the job's, with one nested child run; return its id."""
    tags = {"features": "history", "scenario": "status_quo", "as_of": "2025-12",
            "data_hash": f"hash-{name}", "best_model": best, "run_group": group}
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags) as run:
        mlflow.log_params({f"models.forecasters.stats.models.{i}.alias": a
                           for i, a in enumerate(aliases)})
        mlflow.log_params({"models.forecasters.stats.fallback.alias": aliases[0],
                           "backtest.h": 3})
        mlflow.log_metrics({"best_mase": mase, "best_skill": skill})
        with mlflow.start_run(run_name=best, nested=True, tags={"model": best}):
            mlflow.log_metric("mase", mase)
    return run.info.run_id


@pytest.fixture(name="store", scope="module")
def store_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A real SQLite MLflow store with two jobs (each with a child run); yield uri and ids.

    Module-scoped (creating the store dominates the run time); the tests only read it.
    """
    root = tmp_path_factory.mktemp("mlruns")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        exp = mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "a").as_uri())
        first = log_job(exp, name="first", group="sweep-a", aliases=["SeasonalNaive", "Naive"],
                        best="Naive", mase=1.25, skill=0.1)
        second = log_job(exp, name="second", group="sweep-b",
                         aliases=["SeasonalNaive", "AutoETS", "TSB"], best="TSB", mase=0.875,
                         skill=0.3)
        yield uri, [first, second]
    finally:
        mlflow.set_tracking_uri(previous)


def test_runs_table_lists_parents_newest_first(store: tuple[str, list[str]]) -> None:
    uri, (first, second) = store
    table = runs_table(uri, EXPERIMENT, limit=20)
    assert list(table.columns) == list(COLUMNS)
    assert table["run_id"].tolist() == [second[:8], first[:8]]  # children excluded
    assert table["start"].is_monotonic_decreasing
    newest = table.iloc[0]
    assert newest["run_name"] == "second"
    assert newest["status"] == "FINISHED"
    assert newest["models"] == "SeasonalNaive+AutoETS+TSB"
    assert (newest["features"], newest["scenario"], newest["as_of"]) == (
        "history", "status_quo", "2025-12")
    assert newest["data_hash"] == "hash-second"
    assert newest["best_model"] == "TSB"
    assert newest["best_mase"] == pytest.approx(0.875)
    assert newest["skill"] == pytest.approx(0.3)
    assert table.iloc[1]["models"] == "SeasonalNaive+Naive"
    assert runs_table(uri, EXPERIMENT, limit=1)["run_id"].tolist() == [second[:8]]


def test_group_filters_on_run_group(store: tuple[str, list[str]]) -> None:
    uri, (first, _) = store
    assert runs_table(uri, EXPERIMENT, group="sweep-a")["run_id"].tolist() == [first[:8]]
    assert runs_table(uri, EXPERIMENT, group="nope").empty


def test_model_aliases_orders_naturally_dedupes_and_counts_when_long() -> None:
    params = {f"m.models.{i}.alias": f"Model{i:02d}" for i in (10, 2, 1)}
    params["m.fallback.alias"] = "Model01"
    params["m.models.1.season_length"] = "12"
    assert model_aliases(params) == "Model01+Model02+Model10"
    many = {f"m.models.{i}.alias": f"LongModelName{i}" for i in range(6)}
    assert model_aliases(many) == "6 models"


def test_cli_prints_table(store: tuple[str, list[str]], capsys: pytest.CaptureFixture) -> None:
    uri, (first, second) = store
    main(["--uri", uri, "--experiment", EXPERIMENT])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].split()[:3] == ["run_id", "start", "(UTC)"]
    assert lines[1].split()[0] == second[:8] and lines[2].split()[0] == first[:8]
    assert "0.875" in lines[1] and "TSB" in lines[1]
    main(["--uri", uri, "--experiment", EXPERIMENT, "--group", "sweep-a"])
    out = capsys.readouterr().out
    assert first[:8] in out and second[:8] not in out


def test_cli_exits_2_on_unknown_experiment(store: tuple[str, list[str]],
                                           capsys: pytest.CaptureFixture) -> None:
    uri, _ = store
    with pytest.raises(SystemExit) as exit_info:
        main(["--uri", uri, "--experiment", "missing"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: experiment 'missing' not found in {uri}\n"


def test_cli_exits_2_without_creating_a_missing_store(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    db = tmp_path / "absent.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["--uri", f"sqlite:///{db}"])
    assert exit_info.value.code == 2
    assert "no MLflow store" in capsys.readouterr().err
    assert not db.exists()


def test_start_is_a_utc_timestamp(store: tuple[str, list[str]]) -> None:
    uri, _ = store
    start = runs_table(uri, EXPERIMENT)["start"].iloc[0]
    assert isinstance(start, pd.Timestamp) and str(start.tz) == "UTC"
    assert abs(pd.Timestamp.now(tz="UTC") - start) < pd.Timedelta(minutes=10)
