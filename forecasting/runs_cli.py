"""`forecast-runs`: list the recent job (parent) runs of the MLflow experiment, newest first."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Run

from forecasting.tracking_store import reap_killed_runs, sqlite_path

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "magnet-forecasting"
EXIT_NOT_FOUND = 2
MAX_MODELS_TEXT = 40
PARENT_TAG = "mlflow.parentRunId"
COLUMNS: tuple[str, ...] = ("run_id", "start", "status", "run_name", "models", "features",
                            "scenario", "as_of", "data_hash", "best_model", "best_mase", "skill")


class ExperimentNotFoundError(LookupError):
    """The tracking store or the experiment asked for does not exist."""


def _natural_key(key: str) -> list[object]:
    """Sort key that orders `models.2.alias` before `models.10.alias`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def model_aliases(params: dict[str, str]) -> str:
    """Unique model aliases from the `*.alias` params, joined by '+', or their count if long."""
    keys = sorted((k for k in params if k.endswith(".alias")), key=_natural_key)
    aliases = list(dict.fromkeys(params[k] for k in keys))
    text = "+".join(aliases)
    return text if len(text) <= MAX_MODELS_TEXT else f"{len(aliases)} models"


def _quote(value: str) -> str:
    """Quote a value for an MLflow filter string."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def _check_store(uri: str) -> None:
    """Refuse a SQLite URI whose file is missing (MLflow would silently create an empty store)."""
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        raise ExperimentNotFoundError(f"no MLflow store at {db} ({uri})")


def _row(run: Run) -> dict[str, object]:
    """One table row from a parent run."""
    tags, metrics = run.data.tags, run.data.metrics
    return {
        "run_id": run.info.run_id[:8],
        "start": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        "status": run.info.status,
        "run_name": run.info.run_name,
        "models": model_aliases(run.data.params),
        **{key: tags.get(key) for key in ("features", "scenario", "as_of", "data_hash",
                                          "best_model")},
        "best_mase": metrics.get("best_mase"),
        "skill": metrics.get("best_skill"),
    }


def runs_table(uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT, limit: int = 20,
               group: str | None = None) -> pd.DataFrame:
    """The `limit` newest parent runs of `experiment` (optionally of one run_group) as a table."""
    _check_store(uri)
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ExperimentNotFoundError(f"experiment {experiment!r} not found in {uri}")
    reap_killed_runs(client, found.experiment_id)
    filters = [f"tags.`{PARENT_TAG}` IS NULL"]
    if group is not None:
        filters.append(f"tags.run_group = {_quote(group)}")
    runs = client.search_runs([found.experiment_id], filter_string=" AND ".join(filters),
                              order_by=["attributes.start_time DESC"], max_results=limit)
    return pd.DataFrame([_row(r) for r in runs], columns=list(COLUMNS))


def format_table(table: pd.DataFrame) -> str:
    """Plain-text rendering: short start time, three decimals, '-' for missing values."""
    if table.empty:
        return "no runs"
    out = table.copy()
    out["start"] = out["start"].dt.strftime("%Y-%m-%d %H:%M")
    for col in ("best_mase", "skill"):
        out[col] = out[col].map(lambda v: f"{v:.3f}" if pd.notna(v) else "-")
    out["run_name"] = out["run_name"].map(lambda s: s if len(s) <= 40 else s[:37] + "...")
    return out.rename(columns={"start": "start (UTC)"}).fillna("-").to_string(index=False)


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `forecast-runs`."""
    parser = argparse.ArgumentParser(prog="forecast-runs", description=__doc__)
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"tracking URI (default {DEFAULT_URI})")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help=f"experiment name (default {DEFAULT_EXPERIMENT})")
    parser.add_argument("--limit", type=_positive, default=20, help="most runs to show")
    parser.add_argument("--group", default=None, help="only runs whose run_group tag is this")
    args = parser.parse_args(argv)
    try:
        table = runs_table(args.uri, args.experiment, args.limit, args.group)
    except ExperimentNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_NOT_FOUND)
    print(format_table(table))
