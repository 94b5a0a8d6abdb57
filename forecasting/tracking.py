"""MLflow tracking: one parent run per job, a nested child per model, tags for provenance."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Metric
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from omegaconf import DictConfig, OmegaConf

from forecasting import mlflow_model
from forecasting.publish import PUBLIC_BOUNDS, PUBLIC_COLUMNS, to_public
from forecasting.tracking_store import run_identity

PARAM_LIMIT = 6000
PUBLISHED_METRICS = ("skill", "msis_80", "coverage_80", "mase", "n_scored")
REVIEW_VIEW = "review"  # the MLflow UI's shared-view key: ?viewStateShareKey=review
SHARED_VIEW_TAG = "mlflow.sharedViewState."
KEY_COLUMNS = ("tags.`published_choice`", *(f"metrics.`published_{m}`" for m in PUBLISHED_METRICS),
               "tags.`as_of`", "tags.`scenario`")
NOTE_TAG = "mlflow.note.content"  # the run page's Description
MODEL_NAME, CANDIDATE = "magnet-forecasting", "candidate"  # registered model and its alias


def package_version() -> str:
    """Installed version of magnet-forecasting."""
    try:
        return version("magnet-forecasting")
    except PackageNotFoundError:
        return "0+unknown"


def git_state(repo: Path | None = None) -> tuple[str, bool]:
    """The current commit and whether the work tree has uncommitted changes."""
    cwd = repo or Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=cwd,
                                    capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, dirty


def data_hash(panel: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of the panel's canonical CSV form."""
    canon = panel.sort_values(list(panel.columns[:2])).to_csv(index=False, float_format="%.6f")
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def flatten(cfg: DictConfig | Mapping, prefix: str = "") -> dict[str, str]:
    """Flatten a nested config into dotted keys (`models.forecasters.stats.models.0.alias`)."""
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    out: dict[str, str] = {}

    def walk(node: object, key: str) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(node, list) and node and any(isinstance(v, Mapping | list) for v in node):
            for i, v in enumerate(node):
                walk(v, f"{key}.{i}")
        else:
            out[key] = str(node)[:PARAM_LIMIT]

    walk(container, prefix)
    return out


@contextmanager
def job_run(cfg: DictConfig, *, run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
    """Open the parent run of a job (FAILED if the job raises); yield its run id."""
    mlflow.set_tracking_uri(cfg.tracking.uri)
    experiment = mlflow.set_experiment(cfg.tracking.experiment)
    set_review_view(experiment.experiment_id)
    with mlflow.start_run(run_name=run_name, tags=dict(tags) | run_identity()) as run:
        params = flatten(cfg)
        items = list(params.items())
        for i in range(0, len(items), 100):
            mlflow.log_params(dict(items[i:i + 100]))
        mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
        yield run.info.run_id


def log_artifact(path: Path, *, artifact_path: str | None = None) -> None:
    """Log a file to the active run (nothing when tracking is off)."""
    if mlflow.active_run() is not None:
        mlflow.log_artifact(str(path), artifact_path=artifact_path)


def log_metrics(metrics: Mapping[str, float]) -> None:
    """Log metrics to the active run (nothing when tracking is off)."""
    if mlflow.active_run() is not None:
        mlflow.log_metrics(dict(metrics))


def set_tag(key: str, value: str) -> None:
    """Tag the active run (nothing when tracking is off)."""
    if mlflow.active_run() is not None:
        mlflow.set_tag(key, value)


def log_panel(panel: pd.DataFrame, *, source: str, name: str) -> None:
    """Log the input panel as an MLflow dataset so its digest shows in the UI."""
    with warnings.catch_warnings():  # a local path matches two equivalent source types
        warnings.filterwarnings("ignore", message="The specified dataset source")
        dataset = mlflow.data.from_pandas(panel, source=source, name=name)
    mlflow.log_input(dataset, context="training")


def month_step(month: pd.Timestamp) -> int:
    """A month as an MLflow step that reads as a date on the chart axis: 2025-09 -> 202509."""
    return month.year * 100 + month.month


def log_model_runs(per_fold: pd.DataFrame, board: pd.DataFrame, by_horizon: pd.DataFrame,
                   params: Mapping[str, Mapping[str, object]] | None = None) -> None:
    """A nested child run per model: its params, summary metrics, per-fold metrics with
    step = the fold's cutoff month (yyyymm) and MASE by horizon with step = horizon."""
    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    for _, row in board.iterrows():
        model = row["model"]
        with mlflow.start_run(run_name=model, nested=True, tags={"model": model}) as child:
            model_params = flatten(dict((params or {}).get(model, {})))
            if model_params:
                mlflow.log_params(model_params)
            metrics = [Metric(k, float(row[k]), now, 0) for k in board.columns
                       if k != "model" and pd.notna(row[k]) and not isinstance(row[k], str)]
            folds = per_fold.loc[per_fold["model"] == model]
            for fold in folds.itertuples(index=False):
                step = month_step(pd.Timestamp(fold.cutoff))
                metrics += [Metric(name, float(value), now, step) for name, value in (
                    ("fold_mase", fold.mase), ("fold_mae", fold.mae),
                    ("fold_coverage_80", fold.coverage_80)) if pd.notna(value)]
            metrics += [Metric("mase_by_horizon", float(r.mase), now, int(r.horizon))
                        for r in by_horizon.loc[by_horizon["model"] == model].itertuples()
                        if pd.notna(r.mase)]
            client.log_batch(child.info.run_id, metrics=metrics)


def log_summary(board: pd.DataFrame) -> None:
    """Parent-run metrics: per model mean MASE, skill, WAPE, coverage and cells scored."""
    metrics = {}
    for _, row in board.iterrows():
        for key in ("mase", "skill", "mae", "wape", "coverage_80", "coverage_95", "n_scored"):
            if pd.notna(row[key]):
                metrics[f"{key}_{row['model']}"] = float(row[key])
    mlflow.log_metrics(metrics)
    best = board.iloc[0]
    mlflow.log_metrics({"best_mase": float(best["mase"]),
                        "best_skill": float(best["skill"]) if pd.notna(best["skill"]) else 0.0})
    mlflow.set_tag("best_model", str(best["model"]))


def log_published(summary: str, evidence: Mapping[str, float]) -> None:
    """The published choice on the parent run: `summary` as the run's description and its
    scores as metrics published_skill, _msis_80, _coverage_80, _mase, _n_scored (rounded to
    3 decimals for the runs table; the full values are in the per-model metrics)."""
    set_tag(NOTE_TAG, summary)
    log_metrics({f"published_{k}": round(float(evidence[k]), 3) for k in PUBLISHED_METRICS
                 if pd.notna(evidence.get(k))})


def review_view_state() -> dict[str, object]:
    """The MLflow UI view state of the review view: the key columns, newest run first."""
    return {"orderByKey": "attributes.start_time", "orderByAsc": False,
            "selectedColumns": list(KEY_COLUMNS)}


def set_review_view(experiment_id: str) -> None:
    """Store the review view as a shared view of the experiment; the UI opens it at
    `#/experiments/<id>?viewStateShareKey=review` (MLflow's runs table otherwise starts with
    only Source, Models and Dataset columns)."""
    mlflow.MlflowClient().set_experiment_tag(experiment_id, SHARED_VIEW_TAG + REVIEW_VIEW,
                                             json.dumps(review_view_state()))


def public_forecasts(forecasts: Mapping[str, pd.DataFrame], *, as_of: str) -> pd.DataFrame:
    """The job's internal forecast frames per scenario in the published schema, stacked."""
    return pd.concat([to_public(frame, as_of=as_of, scenario=name)
                      for name, frame in forecasts.items()], ignore_index=True)


def register_forecaster(forecasts: Mapping[str, pd.DataFrame], *, as_of: str,
                        evidence: str) -> str:
    """Log the published forecasts as a pyfunc model of the active run (the code of
    forecasting/mlflow_model.py, the forecasts as its artifact), register it as MODEL_NAME
    and point the alias `candidate` at it; its `models:/name/version` URI.
    Promoting a version to `production` is a person's decision (README, "The registered
    model")."""
    public = public_forecasts(forecasts, as_of=as_of)
    example = pd.DataFrame({"h": [min(3, int(public["horizon"].max()))],
                            "scenario": [str(public["scenario"].iloc[0])]})
    signature = ModelSignature(
        inputs=Schema([ColSpec("long", "h", required=False),
                       ColSpec("string", "scenario", required=False)]),
        outputs=Schema([ColSpec("long" if col == "horizon" else "double"
                                if col in PUBLIC_BOUNDS else "string", col)
                        for col in PUBLIC_COLUMNS]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{mlflow_model.ARTIFACT}.csv"
        public.to_csv(path, index=False)
        info = mlflow.pyfunc.log_model(
            name="forecaster", python_model=mlflow_model.__file__,
            artifacts={mlflow_model.ARTIFACT: str(path)}, signature=signature,
            input_example=example, registered_model_name=MODEL_NAME,
            pip_requirements=[f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}"])
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(MODEL_NAME, CANDIDATE, version)
    for key, value in {"as_of": as_of, "evidence": evidence}.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
    mlflow.set_tag("registered_model", f"{MODEL_NAME}/{version}")
    return f"models:/{MODEL_NAME}/{version}"
