"""Named policy scenarios composed by Hydra from the real conf/: `scenario=<name>`, the set
`scenario=all`, the policy effect's reference, user scenarios on a search path; broken ones fail
with one line naming the file, event and column."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from forecasting.scenario_config import reference_scenario, scenarios_for
from forecasting.scenarios import (
    Scenario,
    as_scenario,
    is_scenario_set,
    scenario_from_config,
    scenarios_from_config,
)
from forecasting.schema import InputError
from forecasting.settings import CONF_DIR

SHIPPED = ["controls_reimposed", "easing", "status_quo"]
GOOD_EVENT = """\
  - effective: "2026-11-10"
    kind: "truce"
    direction: "ease"
    magnets: "yes"
    destinations: "US"
    title: "A truce"
"""


def write_scenario(conf_dir: Path, name: str, events_yaml: str, *, label: str | None = None,
                   ) -> Path:
    """Write conf_dir/scenario/<name>.yaml (scenario name `label`, default `name`)."""
    path = conf_dir / "scenario" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'name: "{label or name}"\ndescription: "test"\nevents:\n{events_yaml}')
    return path


def composed(*overrides: str, user_dir: Path | None = None, hydra_config: bool = False):
    """The real config composed with `overrides` (and `user_dir` on the search path, as
    --config-dir puts it)."""
    extra = [f"hydra.searchpath=[file://{user_dir}]"] if user_dir else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[*extra, *overrides], return_hydra_config=hydra_config)


@cache
def composed_scenario(name: str) -> Scenario:
    """The shipped scenario `name` as `scenario=<name>` composes it."""
    [scenario] = scenarios_for(composed(f"scenario={name}"))
    return scenario


def group_options() -> list[str]:
    """The options of the scenario group on the real conf's search path, as Hydra lists them."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return GlobalHydra.instance().config_loader().get_group_options("scenario")


def test_scenario_all_composes_every_other_option_of_the_group() -> None:
    cfg = composed("scenario=all")
    assert cfg.scenario.name == "all" and is_scenario_set(cfg.scenario)
    assert sorted(cfg.scenario.scenarios) == SHIPPED
    scenarios = scenarios_for(cfg)
    assert [s.name for s in scenarios] == SHIPPED
    # all.yaml's defaults list names every option of the group but itself: a new shipped
    # scenario file that is not added there fails here
    assert [o for o in group_options() if o != "all"] == SHIPPED
    # each member is the same scenario as `scenario=<name>` composes
    for scenario in scenarios:
        alone = composed_scenario(scenario.name)
        assert scenario.description == alone.description and len(scenario.description) > 40
        pd.testing.assert_frame_equal(scenario.events, alone.events)


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_composes_and_validates(name: str) -> None:
    scenario = composed_scenario(name)
    assert isinstance(scenario, Scenario) and scenario.name == name
    events = scenario.events
    assert {"announced", "effective", "ends", "kind", "direction", "magnets", "destinations",
            "suspends"} <= set(events.columns)
    assert events["direction"].isin(["tighten", "ease", "neutral"]).all()
    assert events["magnets"].isin(["yes", "partial", "no"]).all()
    assert events["announced"].isna().all()  # assumptions are known at as_of
    for col in ("announced", "effective", "ends"):
        assert pd.api.types.is_datetime64_any_dtype(events[col])


def test_shipped_scenario_contents() -> None:
    renewal = pd.Timestamp("2026-11-10")
    quo = composed_scenario("status_quo").events
    suspension = quo.loc[quo["kind"] == "suspension"].iloc[0]
    assert suspension["suspends"] == (pd.Timestamp("2025-10-09"),)
    assert suspension["effective"] == renewal and suspension["ends"] == pd.Timestamp("2027-11-10")
    assert composed_scenario("controls_reimposed").events.empty
    easing = composed_scenario("easing").events
    lift = easing.loc[easing["suspends"].apply(lambda d: pd.Timestamp("2025-04-04") in d)]
    assert len(lift) == 1 and lift["destinations"].iat[0] == "ALL"
    assert pd.isna(lift["effective"].iat[0])  # from the first month after as_of


def test_reference_comes_from_the_run_or_is_composed_by_hydra(tmp_path: Path) -> None:
    cfg = composed("scenario=all")
    scenarios = scenarios_for(cfg)
    assert reference_scenario(cfg, scenarios) is scenarios[SHIPPED.index("status_quo")]
    cfg = composed("scenario=easing")  # status_quo is not run: composed from the group
    reference = reference_scenario(cfg, scenarios_for(cfg))
    quo = composed_scenario("status_quo")
    assert reference.name == "status_quo"
    pd.testing.assert_frame_equal(reference.events, quo.events)
    for name, message in [("nope", r"reference='nope': no such scenario; available: \['all', "
                                    r"'controls_reimposed', 'easing', 'status_quo'"),
                          ("all", "is a set of scenarios"),
                          ("../x", r"reference ='\.\./x' is not a safe name")]:
        cfg.publish.scenario_effect.reference = name
        with pytest.raises(InputError, match=message):
            reference_scenario(cfg, [quo])


def test_a_user_scenario_on_the_search_path_runs_joins_all_and_serves_as_reference(
        tmp_path: Path) -> None:
    write_scenario(tmp_path, "mine", GOOD_EVENT)
    [mine] = scenarios_for(composed("scenario=mine", user_dir=tmp_path))
    assert mine.name == "mine" and mine.events["destinations"].tolist() == ["US"]
    cfg = composed("scenario=all", "+scenario@scenario.scenarios.mine=mine", user_dir=tmp_path)
    assert [s.name for s in scenarios_for(cfg)] == sorted([*SHIPPED, "mine"])
    # the reference is composed on the running app's search path (--config-dir included)
    cfg = composed("scenario=easing", "publish.scenario_effect.reference=mine",
                   user_dir=tmp_path, hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        reference = reference_scenario(cfg, scenarios_for(cfg))
    finally:
        HydraConfig.instance().cfg = None
    assert reference.name == "mine"
    pd.testing.assert_frame_equal(reference.events, mine.events)


def test_set_members_and_options_must_carry_their_own_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^conf/scenario/all.yaml, column 'scenarios.mine': "
                                         r"scenarios.mine is the scenario 'easing'"):
        scenarios_for(composed("scenario=all", "+scenario@scenario.scenarios.mine=easing"))
    write_scenario(tmp_path, "renamed", GOOD_EVENT, label="mine")
    cfg = composed("scenario=renamed", user_dir=tmp_path, hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        with pytest.raises(InputError, match=r"renamed.yaml, column 'name': name 'mine' differs "
                                             r"from the option name 'renamed'"):
            scenarios_for(cfg)
    finally:
        HydraConfig.instance().cfg = None
    write_scenario(tmp_path, "dots", GOOD_EVENT, label="../up")
    with pytest.raises(InputError, match=r"scenario.name ='\.\./up' is not a safe name"):
        scenarios_for(composed("scenario=dots", user_dir=tmp_path))
    with pytest.raises(InputError, match="scenarios must be a non-empty mapping"):
        scenarios_from_config({"name": "empty", "scenarios": {}})


@pytest.mark.parametrize(("event_yaml", "column", "message"), [
    (GOOD_EVENT.replace('"ease"', '"up"'), "direction", "direction 'up' not in"),
    (GOOD_EVENT.replace('"2026-11-10"', '"2026-13-40"'), "effective", "cannot parse date"),
    (GOOD_EVENT.replace('"yes"', "yes"), "magnets", "YAML boolean True; quote it"),
    (GOOD_EVENT.replace("title:", "titel:"), "titel", "unknown field(s) ['titel']"),
    (GOOD_EVENT + '    suspends: "2025-10-09"\n', "suspends", "only a suspension may"),
    (GOOD_EVENT + '    ends: "2026-01-01"\n', "ends", "is not after effective"),
])
def test_broken_scenario_names_file_event_and_column(tmp_path: Path, event_yaml: str,
                                                     column: str, message: str) -> None:
    write_scenario(tmp_path, "broken", GOOD_EVENT + event_yaml)
    with pytest.raises(InputError) as err:
        scenarios_for(composed("scenario=broken", user_dir=tmp_path))
    text = str(err.value)
    assert text.startswith(f"conf/scenario/broken.yaml, column '{column}': event 1")
    assert message in text


def test_as_scenario_accepts_config_and_scenario() -> None:
    quo = composed_scenario("status_quo")
    assert as_scenario(None) is None and as_scenario(quo) is quo
    from_cfg = as_scenario({"name": "status_quo", "description": "", "events": []})
    assert from_cfg.name == "status_quo" and from_cfg.events.empty
    with pytest.raises(TypeError, match="expected a Scenario"):
        as_scenario("status_quo")


def test_suspends_may_be_a_list() -> None:
    cfg = {"name": "x", "events": [{"effective": "2026-01-01", "kind": "suspension",
                                    "direction": "ease", "magnets": "yes", "destinations": "ALL",
                                    "suspends": ["2025-04-04", "2025-10-09"]}]}
    assert scenario_from_config(cfg).events["suspends"].iat[0] == (
        pd.Timestamp("2025-04-04"), pd.Timestamp("2025-10-09"))


def test_from_config_defaults_source_to_the_group_file() -> None:
    cfg = {"name": "x", "description": "d", "events": [{"effective": "2026-01-01"}]}
    with pytest.raises(InputError, match=r"^conf/scenario/x.yaml, column 'kind': event 0"):
        scenario_from_config(cfg)
    with pytest.raises(InputError, match=r"unknown key\(s\) \['event'\]"):
        scenario_from_config({"name": "x", "event": []}, source="x.yaml")
