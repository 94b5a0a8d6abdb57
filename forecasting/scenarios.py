"""Named future policy scenarios: policy events assumed for the months after as_of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from yaml import YAMLError

import forecasting
from forecasting.data.policy_calendar import EVENT_COLUMNS, validate_policy_events
from forecasting.features.policy import SUSPENDS_COL, with_suspends
from forecasting.schema import InputError

SCENARIO_GROUP = "scenario"
SCENARIO_KEYS: tuple[str, ...] = ("name", "description", "events")
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


def default_conf_dir() -> Path:
    """The repository's conf/ directory, found relative to the package."""
    return Path(forecasting.__file__).resolve().parents[1] / "conf"


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


def as_scenario(value: Scenario | Mapping | str | None) -> Scenario | None:
    """A Scenario from a Scenario, a scenario config mapping, a scenario name, or None."""
    if value is None or isinstance(value, Scenario):
        return value
    if isinstance(value, str):
        return load_scenario(value)
    if isinstance(value, Mapping):
        return scenario_from_config(value)
    raise TypeError(f"expected a Scenario, a scenario config or a name, got {type(value)}")


def available_scenarios(conf_dir: Path | None = None) -> list[str]:
    """Names of the scenario files in conf/scenario (all.yaml excluded), sorted."""
    folder = (conf_dir or default_conf_dir()) / SCENARIO_GROUP
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "all")


def load_scenario(name: str, conf_dir: Path | None = None) -> Scenario:
    """Read and validate conf/scenario/<name>.yaml."""
    path = (conf_dir or default_conf_dir()) / SCENARIO_GROUP / f"{name}.yaml"
    if not path.is_file():
        raise InputError(path, f"no scenario {name!r}; available: {available_scenarios(conf_dir)}")
    try:
        cfg = OmegaConf.load(path)
    except (YAMLError, OmegaConfBaseException) as err:
        raise InputError(path, f"not a readable YAML scenario: {err}".splitlines()[0]) from err
    scenario = scenario_from_config(cfg, source=path)
    if scenario.name != name:
        raise InputError(path, f"name {scenario.name!r} differs from the file name {name!r}",
                         column="name")
    return scenario
