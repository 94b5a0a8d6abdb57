"""Named future policy scenarios (data the policy features consume), built from composed config.

Hydra composes them: `scenario=<name>` gives one scenario node, `scenario=all` (or any node with a
`scenarios` mapping, composed by its defaults list) a set of them. Nothing here reads YAML files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from forecasting.data.policy_calendar import EVENT_COLUMNS, validate_policy_events
from forecasting.data.suspensions import SUSPENDS_COL, with_suspends
from forecasting.schema import InputError

SCENARIO_GROUP = "scenario"
SCENARIO_KEYS: tuple[str, ...] = ("name", "description", "events")
SET_KEY = "scenarios"  # a scenario set (e.g. scenario=all): {name: scenario config}
EVENT_FIELDS: tuple[str, ...] = (*EVENT_COLUMNS, SUSPENDS_COL)
OPEN_DATES: tuple[str, ...] = ("announced", "effective")
# Stands in for an omitted announced/effective date while the calendar validator runs.
_PLACEHOLDER = "1900-01-01"


@dataclass(frozen=True)
class Scenario:
    """A named assumption about future policy: calendar-shaped events applied after as_of.

    `events` has the calendar's columns plus `suspends`; `announced` NaT means "known at as_of",
    `effective` NaT means "from the first month after as_of".
    """

    name: str
    description: str
    events: pd.DataFrame


def scenario_events(events: Sequence[Mapping], *, source: object) -> pd.DataFrame:
    """Validate scenario events like calendar rows (announced/effective may be omitted)."""
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise InputError(source, f"event {i}: expected a mapping of fields, got {event!r}",
                             column="events")
        unknown = sorted(set(event) - set(EVENT_FIELDS))
        if unknown:
            raise InputError(source, f"event {i}: unknown field(s) {unknown}; allowed "
                             f"{list(EVENT_FIELDS)}", column=unknown[0])
        for field, value in event.items():
            if isinstance(value, bool):
                raise InputError(source, f"event {i}: {field} is the YAML boolean {value}; "
                                 f'quote it (e.g. "yes")', column=field)
    raw = pd.DataFrame([dict(e) for e in events], columns=list(EVENT_FIELDS))
    open_dates = {c: raw[c].isna().to_numpy() for c in OPEN_DATES}
    filled = raw.assign(**{c: raw[c].where(~m, _PLACEHOLDER) for c, m in open_dates.items()})
    try:
        out = with_suspends(validate_policy_events(filled, source=source), raw, source=source)
    except InputError as err:
        raise InputError(source, f"event {err.row}: {err.message}", column=err.column) from err
    for col, missing in open_dates.items():
        out.loc[missing, col] = pd.NaT
    return out


def scenario_from_config(cfg: Mapping, *, source: object | None = None) -> Scenario:
    """Build a validated Scenario from a config (name, description, events).

    Errors name `source`, by default conf/scenario/<name>.yaml, and the event's index.
    """
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    name = cfg.get("name") if isinstance(cfg, Mapping) else None
    if source is None:
        source = Path("conf") / SCENARIO_GROUP / f"{name}.yaml"
    if not isinstance(name, str) or not name:
        raise InputError(source, "a scenario needs a non-empty string name", column="name")
    unknown = sorted(set(cfg) - set(SCENARIO_KEYS))
    if unknown:
        raise InputError(source, f"unknown key(s) {unknown}; allowed {list(SCENARIO_KEYS)}",
                         column=unknown[0])
    events = cfg.get("events") or []
    if not isinstance(events, Sequence) or isinstance(events, str):
        raise InputError(source, "events must be a list of events", column="events")
    return Scenario(name=name, description=str(cfg.get("description") or ""),
                    events=scenario_events(events, source=source))


def as_scenario(value: Scenario | Mapping | None) -> Scenario | None:
    """A Scenario from a Scenario, a scenario config mapping, or None."""
    if value is None or isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return scenario_from_config(value)
    raise TypeError(f"expected a Scenario or a scenario config, got {type(value)}")


def is_scenario_set(cfg: Mapping) -> bool:
    """Whether a composed `scenario` node is a set of scenarios (has a `scenarios` mapping)."""
    return SET_KEY in cfg


def scenarios_from_config(cfg: Mapping) -> list[Scenario]:
    """The scenarios of a composed `scenario` node: the one it is, or every member of a set
    (by name). A member's key must be its name, as the defaults list `<name>@scenarios.<name>`
    gives; errors name conf/scenario/<set name>.yaml and the member."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    if not is_scenario_set(cfg):
        return [scenario_from_config(cfg)]
    source = Path("conf") / SCENARIO_GROUP / f"{cfg.get('name')}.yaml"
    members = cfg[SET_KEY]
    if not isinstance(members, Mapping) or not members:
        raise InputError(source, "scenarios must be a non-empty mapping {name: scenario}; "
                         "compose them with `- <name>@scenarios.<name>` in the defaults list",
                         column=SET_KEY)
    out = []
    for key in sorted(members):
        scenario = scenario_from_config(members[key])
        if scenario.name != key:
            raise InputError(source, f"scenarios.{key} is the scenario {scenario.name!r}; "
                             f"compose it as `- {scenario.name}@scenarios.{scenario.name}`",
                             column=f"{SET_KEY}.{key}")
        out.append(scenario)
    return out
