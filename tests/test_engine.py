"""engine=dask: the job on a 2-worker dask LocalCluster gives engine=local's forecasts and CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.engine import distributed, engine_session
from forecasting.job import run_job
from forecasting.schema import InputError
from forecasting.settings import check_settings

# SeasonalNaive and Naive, plus the intermittent forecaster (conformal intervals) as configured
SMALL = (
    "data=synthetic", "data.n_series=5", "data.n_months=40", "data.intermittent_share=0.4",
    "models=stats", "~models.forecasters.stats.combinations", "models.routing.smooth=Naive",
    "models.forecasters.stats.models=[{_target_:statsforecast.models.SeasonalNaive,"
    "season_length:12,alias:SeasonalNaive},{_target_:statsforecast.models.Naive,alias:Naive}]",
    "backtest.h=2", "backtest.n_windows=2", "publish.h=3", "plots=false", "progress=false",
    "tracking.enabled=false",
)
DASK = ("engine=dask", "engine.n_workers=2", "engine.processes=false")


def small_cfg(tmp: Path, *overrides: str):
    """The real conf/ on a small synthetic panel, publishing under `tmp`."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[*SMALL, f"publish.dir={tmp}/pub", *overrides])


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """The same job on engine=local and on engine=dask."""
    out = {}
    for name, extra in (("local", ()), ("dask", DASK)):
        tmp = tmp_path_factory.mktemp(name)
        out[name] = run_job(small_cfg(tmp, *extra), run_dir=tmp / "run")
    return out


def test_dask_backtest_and_forecasts_equal_local(both) -> None:
    for name in ("backtest.csv", "forecast_status_quo.csv"):
        local = pd.read_csv(both["local"].files[name])
        dask = pd.read_csv(both["dask"].files[name])
        assert list(local.columns) == list(dask.columns) and len(local) == len(dask)
        pd.testing.assert_frame_equal(local, dask, rtol=1e-6, atol=1e-6)
    bt_local = pd.read_csv(both["local"].files["backtest.csv"])
    bt_dask = pd.read_csv(both["dask"].files["backtest.csv"])
    gap = (bt_local["Naive"] - bt_dask["Naive"]).abs().to_numpy()
    # the fits went through statsforecast's fugue backend, which returns float32 values
    assert np.nanmax(gap) > 0


def test_dask_publishes_the_same_csv(both) -> None:
    local, dask = (both[k].published.csv_paths["status_quo"] for k in ("local", "dask"))
    assert local.read_bytes() == dask.read_bytes()


def test_engine_session_opens_and_closes_a_cluster() -> None:
    assert not distributed()
    with engine_session({"name": "dask", "n_workers": 2, "processes": False}) as name:
        assert name == "dask" and distributed()
    assert not distributed()
    with engine_session({"name": "local"}) as name:
        assert name == "local" and not distributed()


def test_bad_engine_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="engine.name"):
        check_settings(small_cfg(tmp_path, "engine.name=spark"))
    with pytest.raises(InputError, match="engine.address"), engine_session(
            {"name": "dask", "address": "tcp://127.0.0.1:9"}):
        pass
