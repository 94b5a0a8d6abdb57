"""Headless-Chromium screenshots of the MLflow UI over a real job's store: the experiment page
(runs table in the review view) and the parent run's page, saved as docs/mlflow_*.png.

Runs the default job on the bundled data with a temporary store (or reuses `--store`), serves
it with `mlflow ui` in its own process group on a free loopback port, screenshots both pages
and stops the server's whole group.

    .venv/bin/python benchmarks/mlflow_screenshots.py [--store sqlite:////tmp/x/mlflow.db]
        [--out docs] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "magnet-forecasting"
WINDOW = "2300,1000"
# MLflow 3.17 picks its GenAI or model-training navigation from the URL (else the browser's
# last choice, GenAI on a first visit); the shared view forecasting.tracking.REVIEW_VIEW
# selects the key columns of the runs table.
TRAINING = "workflowType=machine_learning"
VIEW_KEY = "review"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None) -> dict:
    """GET (or POST `body` to) the MLflow REST API; generous timeout: a loaded machine is slow."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (loopback only)
        return json.loads(resp.read())


def run_job(workdir: Path) -> str:
    """The default job on the bundled data, tracked in a store under `workdir`; its URI."""
    uri = f"sqlite:///{workdir}/mlflow.db"
    subprocess.run([sys.executable, "-m", "forecasting.cli", "progress=false",
                    f"tracking.uri={uri}", f"publish.dir={workdir}/published",
                    f"hydra.run.dir={workdir}/run"], cwd=workdir, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return uri


def wait_for(base: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    """Block until the UI answers on `base` (or raise when the server died or timed out)."""
    deadline = time.time() + timeout_s
    while True:
        try:
            urllib.request.urlopen(base + "/health", timeout=10)  # noqa: S310
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise
            time.sleep(1)


def screenshot(chromium: str, url: str, path: Path) -> None:
    """One headless Chromium screenshot of `url` (the page's scripts get 15 s of virtual time)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        f"--screenshot={path}", f"--window-size={WINDOW}",
                        "--virtual-time-budget=15000", url],
                       check=True, capture_output=True, timeout=180)


def stop_group(proc: subprocess.Popen, grace_s: float = 60) -> None:
    """SIGTERM the server's process group; SIGKILL it if it is still there after `grace_s`."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def pages(base: str) -> dict[str, str]:
    """The experiment page in the review view and the newest parent run's page."""
    name = urllib.parse.quote(EXPERIMENT)
    exp_id = call(f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
                  )["experiment"]["experiment_id"]
    runs = call(f"{base}/api/2.0/mlflow/runs/search", {
        "experiment_ids": [exp_id], "max_results": 50,
        "order_by": ["attributes.start_time DESC"]})["runs"]
    parent = next(r for r in runs if not any(
        t["key"] == "mlflow.parentRunId" for t in r["data"].get("tags", [])))
    run_id = parent["info"]["run_id"]
    return {"mlflow_experiment.png":
            f"{base}/#/experiments/{exp_id}/runs?{TRAINING}&viewStateShareKey={VIEW_KEY}",
            "mlflow_run.png": f"{base}/#/experiments/{exp_id}/runs/{run_id}?{TRAINING}"}


def main() -> None:
    """Run (or reuse) a store, serve it, screenshot the two pages into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="an existing tracking URI (default: run the job)")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        uri = args.store or run_job(Path(tmp))
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                                   uri, "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", "1"], start_new_session=True, cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION":
                                       "false"})  # no background job workers: not needed
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(base, server)
            for name, url in pages(base).items():
                screenshot(args.chromium, url, args.out / name)
                print(f"{args.out / name}: {url}")
        finally:
            stop_group(server)


if __name__ == "__main__":
    main()
