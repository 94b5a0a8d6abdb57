"""Named policy scenarios: the shipped YAML files load and validate; broken ones fail clearly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.scenarios import (
    Scenario,
    as_scenario,
    available_scenarios,
    default_conf_dir,
    load_scenario,
    scenario_from_config,
)
from forecasting.schema import InputError

SHIPPED = ["controls_reimposed", "easing", "status_quo"]
GOOD_EVENT = """\
  - effective: "2026-11-10"
    kind: "truce"
    direction: "ease"
    magnets: "yes"
    destinations: "US"
    title: "A truce"
"""


def write_scenario(conf_dir: Path, name: str, events_yaml: str) -> Path:
    """Write conf_dir/scenario/<name>.yaml with the given events block; return its path."""
    path = conf_dir / "scenario" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'name: "{name}"\ndescription: "test"\nevents:\n{events_yaml}')
    return path


def test_shipped_scenarios_are_found_in_the_repo_conf() -> None:
    assert default_conf_dir() == Path(__file__).resolve().parents[1] / "conf"
    assert available_scenarios() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_scenario_loads_and_validates(name: str) -> None:
    scenario = load_scenario(name)
    assert isinstance(scenario, Scenario) and scenario.name == name
    assert len(scenario.description) > 40
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
    quo = load_scenario("status_quo").events
    suspension = quo.loc[quo["kind"] == "suspension"].iloc[0]
    assert suspension["suspends"] == (pd.Timestamp("2025-10-09"),)
    assert suspension["effective"] == renewal and suspension["ends"] == pd.Timestamp("2027-11-10")
    assert load_scenario("controls_reimposed").events.empty
    easing = load_scenario("easing").events
    lift = easing.loc[easing["suspends"].apply(lambda d: pd.Timestamp("2025-04-04") in d)]
    assert len(lift) == 1 and lift["destinations"].iat[0] == "ALL"
    assert pd.isna(lift["effective"].iat[0])  # from the first month after as_of


def test_hydra_group_composes_to_the_same_scenario() -> None:
    with initialize_config_dir(config_dir=str(default_conf_dir() / "scenario"),
                               version_base="1.3"):
        cfg = compose(config_name="easing")
    composed = scenario_from_config(cfg)
    loaded = load_scenario("easing")
    assert composed.name == loaded.name and composed.description == loaded.description
    pd.testing.assert_frame_equal(composed.events, loaded.events)


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
    path = write_scenario(tmp_path, "broken", GOOD_EVENT + event_yaml)
    with pytest.raises(InputError) as err:
        load_scenario("broken", conf_dir=tmp_path)
    text = str(err.value)
    assert text.startswith(f"{path}, column '{column}': event 1")
    assert message in text


def test_missing_and_misnamed_scenarios(tmp_path: Path) -> None:
    write_scenario(tmp_path, "mine", GOOD_EVENT)
    (tmp_path / "scenario" / "all.yaml").write_text("name: all\n")
    assert available_scenarios(tmp_path) == ["mine"]
    with pytest.raises(InputError, match=r"no scenario 'other'; available: \['mine'\]"):
        load_scenario("other", conf_dir=tmp_path)
    (tmp_path / "scenario" / "renamed.yaml").write_text(
        (tmp_path / "scenario" / "mine.yaml").read_text())
    with pytest.raises(InputError, match=r"renamed.yaml, column 'name': name 'mine' differs"):
        load_scenario("renamed", conf_dir=tmp_path)


def test_as_scenario_accepts_name_config_and_scenario() -> None:
    quo = load_scenario("status_quo")
    assert as_scenario(None) is None and as_scenario(quo) is quo
    assert as_scenario("status_quo").name == "status_quo"
    from_cfg = as_scenario({"name": "status_quo", "description": "", "events": []})
    assert from_cfg.name == "status_quo" and from_cfg.events.empty
    with pytest.raises(TypeError, match="expected a Scenario"):
        as_scenario(3)


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
