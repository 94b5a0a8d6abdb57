"""engine=dask and engine=ray: the job on a small local cluster gives engine=local's forecasts
and published CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.engine import PACKAGES, check_engine, distributed, engine_session
from forecasting.job import JobResult, run_job
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
ENGINES = {
    "local": (),
    "dask": ("engine=dask", "engine.n_workers=2", "engine.processes=false"),
    "ray": ("engine=ray", "engine.num_cpus=2"),  # a local ray instance, started and stopped
}
NO_RAY = "engine=ray needs ray: pip install -e '.[ray]' (in .[dev])"


def small_cfg(tmp: Path, *overrides: str):
    """The real conf/ on a small synthetic panel, publishing under `tmp`."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[*SMALL, f"publish.dir={tmp}/pub", *overrides])


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], JobResult]:
    """The same job on an engine, run once per module."""
    done: dict[str, JobResult] = {}

    def job(name: str) -> JobResult:
        if name == "ray":
            pytest.importorskip("ray", reason=NO_RAY)
        if name not in done:
            tmp = tmp_path_factory.mktemp(name)
            done[name] = run_job(small_cfg(tmp, *ENGINES[name]), run_dir=tmp / "run")
        return done[name]
    return job


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_distributed_backtest_and_forecasts_equal_local(jobs, engine: str) -> None:
    local, remote = jobs("local"), jobs(engine)
    for name in ("backtest.csv", "forecast_status_quo.csv"):
        want, got = pd.read_csv(local.files[name]), pd.read_csv(remote.files[name])
        assert list(want.columns) == list(got.columns) and len(want) == len(got)
        pd.testing.assert_frame_equal(want, got, rtol=1e-6, atol=1e-6)
    bt_local = pd.read_csv(local.files["backtest.csv"])
    bt_remote = pd.read_csv(remote.files["backtest.csv"])
    gap = (bt_local["Naive"] - bt_remote["Naive"]).abs().to_numpy()
    # the fits went through statsforecast's fugue backend, which returns float32 values
    assert np.nanmax(gap) > 0
    assert not distributed()


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_distributed_publishes_the_same_csv(jobs, engine: str) -> None:
    local, remote = (jobs(k).published.csv_paths["status_quo"] for k in ("local", engine))
    assert local.read_bytes() == remote.read_bytes()


def test_ray_job_stops_the_ray_it_started(jobs) -> None:
    jobs("ray")
    import ray

    assert not ray.is_initialized()


def test_engine_session_opens_and_closes_a_cluster() -> None:
    assert not distributed()
    with engine_session({"name": "dask", "n_workers": 2, "processes": False}) as name:
        assert name == "dask" and distributed()
    assert not distributed()
    with engine_session({"name": "local"}) as name:
        assert name == "local" and not distributed()


def test_bad_engine_settings_are_refused(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="engine.name"):
        check_settings(small_cfg(tmp_path, "engine.name=spark"))
    with pytest.raises(InputError, match="engine.num_cpus"):
        check_settings(small_cfg(tmp_path, "engine=ray", "engine.num_cpus=0"))
    check_settings(small_cfg(tmp_path, "engine=ray", "engine.address=head:6379"))
    for name, address, why in (("dask", "tcp://127.0.0.1:9", "answered"),
                               ("ray", "127.0.0.1:9", "answered"),
                               ("ray", "ray://127.0.0.1:10001", "Ray Client")):
        with pytest.raises(InputError, match=f"engine.address.*{why}"), engine_session(
                {"name": name, "address": address}):
            pass
    monkeypatch.setitem(PACKAGES, "ray", ("no_such_package_here",))
    with pytest.raises(InputError, match=r"engine.name.*pip install -e '.\[ray\]'"):
        check_engine({"name": "ray"})


@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_bad_address_stops_the_job_before_anything_is_written(tmp_path: Path,
                                                              engine: str) -> None:
    cfg = small_cfg(tmp_path, *ENGINES[engine], "engine.address=127.0.0.1:9",
                    "tracking.enabled=true", f"tracking.uri=sqlite:///{tmp_path}/m.db")
    with pytest.raises(InputError, match="engine.address"):
        run_job(cfg, run_dir=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []
