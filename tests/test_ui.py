"""`make ui` serves the MLflow UI and REST API on 127.0.0.1 over the job's SQLite store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    """HTTP GET; generous timeout: a loaded 2-core machine answers slowly, never wrongly."""
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (loopback only)
        return resp.status, resp.read()


@pytest.mark.slow
def test_make_ui_serves_runs_of_the_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("magnet-forecasting")
        with mlflow.start_run(run_name="ui-check") as run:
            mlflow.log_metric("best_mase", 1.5)
    finally:
        mlflow.set_tracking_uri(None)
    port = free_port()
    proc = subprocess.Popen(["make", "-s", "-C", str(REPO), "ui", f"PORT={port}", "WORKERS=1",
                             f"TRACKING_URI={uri}"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            try:
                status, page = get(base + "/")
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(1)
        assert status == 200 and b"<html" in page.lower()
        _, body = get(base + "/api/2.0/mlflow/experiments/get-by-name"
                      "?experiment_name=magnet-forecasting")
        exp_id = json.loads(body)["experiment"]["experiment_id"]
        _, body = get(f"{base}/api/2.0/mlflow/runs/get?run_id={run.info.run_id}")
        got = json.loads(body)["run"]
        assert got["info"]["experiment_id"] == exp_id
        assert {m["key"]: m["value"] for m in got["data"]["metrics"]}["best_mase"] == 1.5
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
