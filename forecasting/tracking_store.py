"""The MLflow store checked before a job computes: reachable, writable, schema ready, runs reaped.

A SQLite store is prepared under an exclusive lock on `<db>.lock` beside it, so two jobs that
start together on a fresh store do not both create the schema. A remote store gets a short
timeout and no retries for this check. Runs left RUNNING by a job that was killed (same host,
process gone) are marked KILLED with a note, by the next job or by `forecast-runs`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import RunStatus

from forecasting.schema import InputError

SQLITE = "sqlite:///"
SOURCE = "tracking.uri"
HOST_TAG, PID_TAG = "host", "pid"
NOTE_TAG = "killed_note"
REMOTE_TIMEOUT_S = "5"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    return Path(uri[len(SQLITE):]) if uri.startswith(SQLITE) else None


@contextlib.contextmanager
def _store_lock(db: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<db>.lock` (blocks while another job prepares the store)."""
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_sqlite(db: Path, uri: str) -> None:
    """A readable, writable SQLite file (or a writable directory for a new one)."""
    folder = db.parent
    if not folder.is_dir():
        raise InputError(SOURCE, f"{uri}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(SOURCE, f"{uri}: directory {folder} is not writable")
    if not db.exists():
        return
    if not os.access(db, os.R_OK | os.W_OK):
        raise InputError(SOURCE, f"{uri}: {db} is not readable and writable by you")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            con.execute("select count(*) from sqlite_master").fetchone()
    except sqlite3.DatabaseError as err:
        raise InputError(SOURCE, f"{uri}: {db} is not a usable SQLite database ({err}); "
                         "move it away or point tracking.uri elsewhere") from err


def prepare_store(uri: str, experiment: str) -> str:
    """Check the store, create its schema and the experiment if needed; the experiment id.

    Raises InputError (one line naming tracking.uri) when the store cannot be used.
    """
    db = sqlite_path(uri)
    if db is not None:
        _check_sqlite(db, uri)
        with _store_lock(db):
            return _experiment_id(uri, experiment)
    with _environ(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                  MLFLOW_HTTP_REQUEST_TIMEOUT=REMOTE_TIMEOUT_S):
        return _experiment_id(uri, experiment)


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _experiment_id(uri: str, experiment: str) -> str:
    """The experiment's id, created (as a model-development experiment) when missing."""
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = client.create_experiment(experiment, tags=EXPERIMENT_KIND)
        else:
            experiment_id = found.experiment_id
            if "mlflow.experimentKind" not in found.tags:
                for key, value in EXPERIMENT_KIND.items():
                    client.set_experiment_tag(experiment_id, key, value)
        reap_killed_runs(client, experiment_id)
        return experiment_id
    except InputError:
        raise
    except Exception as err:  # any failure of the store: name it in one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(SOURCE, f"{uri}: the MLflow store cannot be used ({first[:200]})"
                         ) from err


def run_identity() -> dict[str, str]:
    """Tags that let a later job tell whether this run's process is still alive."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_killed_runs(client: MlflowClient, experiment_id: str) -> list[str]:
    """Mark KILLED the RUNNING runs whose process on this host is gone; their ids."""
    host = socket.gethostname()
    reaped = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'",
                                  max_results=1000):
        tags = run.data.tags
        if tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        if _alive(int(tags[PID_TAG])):
            continue
        client.set_tag(run.info.run_id, NOTE_TAG, f"process {tags[PID_TAG]} on {host} ended "
                       "without closing the run (killed); marked KILLED by a later job")
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))
        reaped.append(run.info.run_id)
    return reaped
