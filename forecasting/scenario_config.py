"""The run's scenarios from the composed config: `scenario=<name>` or a set such as
`scenario=all`, and the policy effect's reference, composed by Hydra when the run lacks it."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf

from forecasting.scenarios import (
    SCENARIO_GROUP,
    Scenario,
    is_scenario_set,
    scenario_from_config,
    scenarios_from_config,
)
from forecasting.schema import InputError
from forecasting.settings import CONF_DIR, check_name


def scenarios_for(cfg: DictConfig) -> list[Scenario]:
    """The scenarios of the run as Hydra composed them: the one of `scenario=<name>`, or each
    member of a set such as `scenario=all` (conf/scenario/all.yaml's defaults list); every
    name checked as a safe file name (it names a published CSV)."""
    scenarios = scenarios_from_config(cfg.scenario)
    for scenario in scenarios:
        check_name("scenario.name", scenario.name)
    choice = HydraConfig.get().runtime.choices.get(SCENARIO_GROUP) if (
        HydraConfig.initialized()) else None
    if choice and not is_scenario_set(cfg.scenario) and scenarios[0].name != choice:
        raise InputError(Path("conf") / SCENARIO_GROUP / f"{choice}.yaml",
                         f"name {scenarios[0].name!r} differs from the option name {choice!r}",
                         column="name")
    return scenarios


def reference_scenario(cfg: DictConfig, scenarios: list[Scenario]) -> Scenario:
    """The policy effect's reference (publish.scenario_effect.reference): one of the run's
    scenarios, or else that option of the scenario group composed by Hydra (the running app's
    search path, --config-dir included; the repository's conf/ outside an app)."""
    name = cfg.publish.scenario_effect.reference
    check_name("publish.scenario_effect.reference", name)
    found = next((s for s in scenarios if s.name == name), None)
    if found is not None:
        return found
    if GlobalHydra.instance().is_initialized():
        node = _compose_option(name)
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            node = _compose_option(name)
    if is_scenario_set(node):
        raise InputError("config", f"publish.scenario_effect.reference={name!r} is a set of "
                         "scenarios; name one scenario", column="publish.scenario_effect.reference")
    return scenario_from_config(OmegaConf.to_container(node, resolve=True))


def _compose_option(name: str) -> DictConfig:
    """The scenario group's option `name`, composed on its own on the run's search path
    (InputError when there is none)."""
    paths = HydraConfig.get().searchpath if HydraConfig.initialized() else []
    overrides = [f"hydra.searchpath=[{','.join(paths)}]"] if paths else []
    try:
        return compose(config_name="config",
                       overrides=[*overrides, f"{SCENARIO_GROUP}={name}"])[SCENARIO_GROUP]
    except MissingConfigException as err:
        options = GlobalHydra.instance().config_loader().get_group_options(SCENARIO_GROUP)
        raise InputError("config", f"publish.scenario_effect.reference={name!r}: no such "
                         f"scenario; available: {options}",
                         column="publish.scenario_effect.reference") from err
