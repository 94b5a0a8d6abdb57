"""Python API: a long DataFrame and Hydra overrides in, the job's tables as DataFrames out.

Each call runs the whole job (the backtest picks what is published) over the real `conf/`
with MLflow tracking, plots and publishing off unless an override turns them on. README,
"Python API", has an example (run by tests/test_api.py).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from forecasting.data.long import REQUIRED, read_long
from forecasting.inputs import ModelInput, load_input
from forecasting.job import JobResult, run_job
from forecasting.publish import PublishResult
from forecasting.schema import TARGET_COL, TIME_COL, InputError, validate_panel
from forecasting.settings import CONF_DIR, check_overrides
from forecasting.tracking import public_forecasts

SOURCE = "DataFrame"
QUIET: tuple[str, ...] = ("tracking.enabled=false", "plots=false", "publish.enabled=false",
                          "progress=false")


class Backtest(NamedTuple):
    """The backtest's tables: leaderboard (one row per model), every fold's forecasts
    (unique_id, ds, cutoff, horizon, y, status, one column per model and bound) and the
    chosen models per series."""

    leaderboard: pd.DataFrame
    forecasts: pd.DataFrame
    choice: pd.DataFrame


def config(overrides: Sequence[str] = ()) -> DictConfig:
    """The job's config: conf/ composed with `overrides` after the API's quiet defaults."""
    overrides = [*QUIET, *overrides]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise InputError("overrides", str(err).strip().splitlines()[0]) from err
    check_overrides(overrides, cfg)
    return cfg


def model_input(df: pd.DataFrame, cfg: DictConfig) -> ModelInput:
    """A long DataFrame (unique_id, ds, y[, status]) checked as a long CSV would be; a bad cell
    raises InputError naming its row (position, df.iloc[row]) and column."""
    for column in REQUIRED:
        if column not in df.columns:
            raise InputError(SOURCE, f"missing column; the columns are {list(df.columns)}",
                             column=column)
    table = df.reset_index(drop=True)
    empty = table.isna()
    table = table.astype(str)
    if pd.api.types.is_datetime64_any_dtype(df[TIME_COL]):
        table[TIME_COL] = df[TIME_COL].dt.strftime("%Y-%m-%d").to_numpy()
    if pd.api.types.is_numeric_dtype(df[TARGET_COL]):  # str(float) reads back exactly
        table[TARGET_COL] = [str(float(v)) for v in df[TARGET_COL]]
    table = table.mask(empty, "")
    panel = validate_panel(read_long(table, source=SOURCE), source=SOURCE, nonnegative=False)
    given = load_input(OmegaConf.to_container(cfg.data, resolve=True) | {"path": None})
    hierarchy = cfg.data.hierarchy
    return ModelInput(source=SOURCE, format="long", destinations=given.destinations, raw=panel,
                      hierarchy="none" if hierarchy == "auto" else hierarchy,
                      min_history=given.min_history)


def run(df: pd.DataFrame | None, overrides: Sequence[str] = (),
        run_dir: str | Path | None = None) -> JobResult:
    """Run the job on `df` (None: the bundled magnet data); its files go to `run_dir` (None: a
    temporary directory, removed afterwards)."""
    cfg = config(overrides)
    data = None if df is None else model_input(df, cfg)
    if run_dir is not None:
        return run_job(cfg, run_dir=Path(run_dir), run_name="api", data=data)
    with tempfile.TemporaryDirectory(prefix="forecast-api-") as tmp:
        return run_job(cfg, run_dir=Path(tmp), run_name="api", data=data)


def backtest(df: pd.DataFrame | None = None, overrides: Sequence[str] = (),
             run_dir: str | Path | None = None) -> Backtest:
    """Leaderboard, backtest forecasts and choice per series of the job on `df`."""
    result = run(df, overrides, run_dir)
    return Backtest(leaderboard=result.leaderboard, forecasts=result.backtest,
                    choice=result.choice)


def forecast(df: pd.DataFrame | None = None, overrides: Sequence[str] = (),
             run_dir: str | Path | None = None) -> pd.DataFrame:
    """The forecasts the job would publish, every scenario run, in the published CSV's columns
    (as_of, scenario, destination, month, horizon, model, tonnes, lo_80, hi_80, lo_95, hi_95)."""
    result = run(df, overrides, run_dir)
    return public_forecasts(result.forecasts, as_of=_as_of(result))


def publish(df: pd.DataFrame | None = None, overrides: Sequence[str] = (),
            publish_dir: str | Path | None = None, run_dir: str | Path | None = None,
            ) -> PublishResult:
    """Publish the month (a CSV per scenario + manifest.json under <publish_dir>/<as_of>/; None:
    publish.dir); where they went. A month already published raises PublishExistsError
    unless publish.overwrite=true."""
    where = [] if publish_dir is None else [f"publish.dir={_quoted(publish_dir)}"]
    result = run(df, ["publish.enabled=true", *overrides, *where], run_dir)
    return result.published


def _quoted(value: str | Path) -> str:
    """A value as a quoted Hydra override string (spaces, '=' and quotes kept): backslashes
    before a quote or the end are doubled, quotes escaped (Hydra's override grammar)."""
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", str(value))
    return "'" + re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text) + "'"


def _as_of(result: JobResult) -> str:
    """The month the job forecast from (the panel's last month), as YYYY-MM."""
    return f"{result.panel[TIME_COL].max():%Y-%m}"

