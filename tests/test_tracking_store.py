"""The MLflow store is checked before computing: bad stores, concurrent starts, killed runs."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from forecasting.schema import InputError
from forecasting.tracking_store import NOTE_TAG, prepare_store
from tests.test_cli import run_cli


def test_a_corrupt_store_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match=r"tracking.uri: sqlite:///.*not a usable SQLite"):
        prepare_store(f"sqlite:///{db}", "x")


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        prepare_store(f"sqlite:///{tmp_path}/nope/mlflow.db", "x")


def test_a_server_that_does_not_answer_fails_fast(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"http://127.0.0.1:9: the MLflow store cannot be used"):
        prepare_store("http://127.0.0.1:9", "x")


def _prepare(uri: str) -> str:
    return prepare_store(uri, "magnet-forecasting")


def test_jobs_starting_together_on_a_fresh_store_share_one_schema(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        ids = pool.map(_prepare, [uri] * 4)
    assert len(set(ids)) == 1
    experiment = MlflowClient(uri).get_experiment(ids[0])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


KILLED_JOB = """
import os, signal, sys, mlflow
from forecasting.tracking_store import run_identity
mlflow.set_tracking_uri(sys.argv[1]); mlflow.set_experiment("magnet-forecasting")
run = mlflow.start_run(tags=run_identity())
print(run.info.run_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_left_running_by_a_killed_job_is_marked_killed(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = subprocess.run([sys.executable, "-c", KILLED_JOB, uri], capture_output=True,
                          text=True, timeout=120)
    run_id = proc.stdout.split()[0]
    client = MlflowClient(uri)
    assert client.get_run(run_id).info.status == "RUNNING"
    prepare_store(uri, "magnet-forecasting")
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and "killed" in run.data.tags[NOTE_TAG]


def test_our_own_running_run_is_left_alone(tmp_path: Path) -> None:
    import mlflow

    from forecasting.tracking_store import run_identity

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("magnet-forecasting")
    with mlflow.start_run(tags=run_identity()) as run:
        prepare_store(uri, "magnet-forecasting")
        assert MlflowClient(uri).get_run(run.info.run_id).info.status == "RUNNING"


def test_cli_with_a_corrupt_store_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "m.db").write_bytes(b"garbage" * 50)
    proc = run_cli(tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "tracking.uri" in errors[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "pub").exists()
