"""Every config group option composes with the real conf/ and builds its objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from forecasting.cli import CONF_DIR
from forecasting.features.pipeline import FEATURE_SETS
from forecasting.models.registry import build_forecasters
from forecasting.reconcile import METHODS
from forecasting.scenario_config import scenarios_for
from forecasting.tracking import flatten
from tests.test_job import write_plain
from tests.test_scenarios import SHIPPED

CONF = Path(CONF_DIR)
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")


def options(group: str) -> list[str]:
    """The option names of a config group (its YAML files)."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_with(*overrides: str):
    """The real config with `overrides`."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(("group", "option"),
                         [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_instantiates(group: str, option: str) -> None:
    cfg = compose_with(f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    forecasters = build_forecasters(cfg.models)
    aliases = [a for f in forecasters for a in f.aliases]
    assert cfg.models.baseline in aliases and len(aliases) == len(set(aliases))
    assert cfg.features.set in FEATURE_SETS
    assert cfg.reconcile.method in METHODS
    names = [s.name for s in scenarios_for(cfg)]
    assert names == (SHIPPED if cfg.scenario.name == "all" else [cfg.scenario.name])


def test_groups_the_issue_names_exist() -> None:
    for group in ("data", "features", "models", "backtest", "scenario", "tracking", "publish",
                  "paths", "hydra", "experiment"):
        assert (CONF / group).is_dir(), group
    for path in (CONF / "experiment").glob("*.yaml"):
        assert path.read_text().startswith("# @package _global_"), path


def test_flattened_params_use_dotted_keys() -> None:
    flat = flatten(compose_with())
    assert flat["backtest.h"] == "3"
    assert flat["models.forecasters.stats.models.0.alias"] == "SeasonalNaive"
    assert flat["data.destinations"] == "['DE', 'US', 'KR', 'JP', 'IN', 'VN']"


def test_multirun_makes_one_grouped_run_per_combination(tmp_path: Path) -> None:
    from tests.conftest import build_panel

    data = write_plain(build_panel(n_series=2, months=40, seed=2), tmp_path / "panel.csv")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "forecast"), "-m", "models=stats", "features=history,history_policy",
         f"data.path={data}", "backtest.n_windows=2", "backtest.h=2", "publish.h=3",
         "plots=false", "~models.forecasters.intermittent", "models.routing.intermittent=Naive",
         f"tracking.uri={uri}", f"publish.dir={tmp_path}/pub", "progress=false",
         f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("magnet-forecasting")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.hydra_mode = 'multirun'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2
    assert len({r.data.tags["run_group"] for r in parents}) == 1
    assert {r.data.params["features.set"] for r in parents} == {"history", "history_policy"}
    assert len({r.info.run_name for r in parents}) == 2  # run names carry the overrides
    assert all(r.info.status == "FINISHED" for r in parents)
    for r in parents:
        assert r.data.params["backtest.n_windows"] == "2"
        assert r.data.tags["data_format"] == "plain" and len(r.data.tags["data_hash"]) == 16
        assert r.data.metrics["skill_SeasonalNaive"] == 0.0 and "mase_AutoETS" in r.data.metrics
        arts = {a.path for a in client.list_artifacts(r.info.run_id)}
        assert {"backtest.csv", "leaderboard.csv", "config.yaml", "features.csv"} <= arts
    # each job published under its own run directory, not one shared folder
    assert len(list((tmp_path / "sweep").glob("*/published/*/manifest.json"))) == 2


def test_models_naming_a_missing_alias_are_refused() -> None:
    cfg = compose_with("models.routing.intermittent=Prophet")
    with pytest.raises(ValueError, match="models.routing.intermittent='Prophet'"):
        build_forecasters(cfg.models)
    cfg = compose_with("models.baseline=Drift")
    with pytest.raises(ValueError, match="models.baseline='Drift'"):
        build_forecasters(cfg.models)


def test_feature_builder_parameters_come_from_conf_features() -> None:
    from forecasting.features.pipeline import build_features
    from tests.conftest import build_panel

    cfg = compose_with("features=full", "features.builders.history.lags=[1,6]")
    panel = build_panel(n_series=2, months=36)
    builders = OmegaConf.to_container(cfg.features.builders, resolve=True)
    train, future = build_features(panel, builders=builders, h=3, as_of=panel["ds"].max())
    assert {"lag1", "lag6"} <= set(train.columns) and "lag12" not in train.columns
    assert any(c.startswith("pol_") for c in train.columns)
    assert any(c.startswith("drv_") for c in train.columns)
    forecasters = build_forecasters(compose_with("features=history_policy").models)
    hgb = next(f for f in forecasters if f.aliases == ["HistGradientBoosting"])
    assert set(hgb.feature_set) == {"history", "calendar", "policy"}
