"""The main job on the bundled data publishes one coherent CSV per scenario, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.job import run_job
from forecasting.publish import PUBLIC_COLUMNS, read_published
from forecasting.schema import WORLD


def bundled_cfg(tmp: Path, *overrides: str):
    """The real config on the bundled data, a short backtest, every scenario."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            "models=stats", "backtest.n_windows=3", "scenario=all", "tracking.enabled=false",
            "~models.forecasters.intermittent", "models.routing.intermittent=Naive",
            "plots=false",
            f"publish.dir={tmp}/pub", "progress=false", *overrides])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory):
    """One job over every scenario; returns (config, result, tmp dir)."""
    tmp = tmp_path_factory.mktemp("pub")
    cfg = bundled_cfg(tmp)
    return cfg, run_job(cfg, run_dir=tmp / "run"), tmp


def world(path: Path) -> pd.Series:
    """WORLD tonnes by month of a published CSV."""
    pub = read_published(path)
    return pub.loc[pub["destination"] == WORLD].set_index("month")["tonnes"]


def test_one_file_per_scenario_with_the_fixed_schema(published) -> None:
    cfg, result, tmp = published
    paths = result.published.csv_paths
    assert sorted(paths) == ["controls_reimposed", "easing", "status_quo"]
    for name, path in paths.items():
        pub = pd.read_csv(path, keep_default_na=False)
        assert list(pub.columns) == list(PUBLIC_COLUMNS)
        assert (pub["scenario"] == name).all() and (pub["as_of"] == "2025-12").all()
        assert pub["month"].min() == "2026-01" and pub["month"].max() == "2026-12"
        assert pub[["destination", "month"]].apply(tuple, axis=1).is_monotonic_increasing
        assert ((pub["lo_95"] <= pub["lo_80"]) & (pub["lo_80"] <= pub["tonnes"])
                & (pub["tonnes"] <= pub["hi_80"]) & (pub["hi_80"] <= pub["hi_95"])).all()
        assert (pub["lo_95"] >= 0).all()
        bottom = pub.loc[pub["destination"] != WORLD].groupby("month")["tonnes"].sum()
        assert (bottom - world(path)).abs().max() <= 0.05 * 8  # rounding to 0.1 t per row


def test_scenarios_differ_from_november_2026(published) -> None:
    _, result, _ = published
    paths = result.published.csv_paths
    quo, reimposed = world(paths["status_quo"]), world(paths["controls_reimposed"])
    assert (quo.loc[:"2026-10"] == reimposed.loc[:"2026-10"]).all()
    assert (reimposed.loc["2026-11":] < quo.loc["2026-11":]).all()
    assert (world(paths["easing"]).loc["2026-11":] > quo.loc["2026-11":]).all()


def test_manifest_checksums_and_rerun_is_byte_identical(published) -> None:
    import hashlib

    cfg, result, tmp = published
    manifest = json.loads(result.published.manifest_path.read_text())
    for entry in manifest["files"]:
        data = (result.published.directory / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    before = {n: p.read_bytes() for n, p in result.published.csv_paths.items()}
    again = run_job(bundled_cfg(tmp, "publish.overwrite=true"), run_dir=tmp / "again")
    assert {n: p.read_bytes() for n, p in again.published.csv_paths.items()} == before
