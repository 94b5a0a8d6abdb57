"""Settings typed on the command line, checked before anything runs: types, ranges, names, keys."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from forecasting.backtest.metrics import SCORE_ON
from forecasting.data.products import NAME
from forecasting.data.store import VINTAGES
from forecasting.engine import ENGINES
from forecasting.schema import LEVELS, InputError

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SAFE_NAME = NAME
# subtrees whose keys are constructor arguments or builder parameters: `+key=value` may add one
FREE_FORM: tuple[str, ...] = ("models.forecasters.", "features.builders.", "hydra.")
SOURCE = "config"
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@dataclass(frozen=True)
class Setting:
    """One scalar setting: its type, an inclusive range for numbers, and whether null is allowed."""

    kind: type
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    check: Callable[[object], str | None] | None = None


def _month(value: object) -> str | None:
    return None if MONTH.fullmatch(str(value)) else "is not a month; write e.g. 2025-06"


def _one_of(*allowed: str) -> Callable[[object], str | None]:
    return lambda value: None if value in allowed else f"is not one of {', '.join(allowed)}"


def _name(value: object) -> str | None:
    return None if SAFE_NAME.fullmatch(str(value)) else (
        "is not a safe name (letters, digits, '_', '-', '.'; at most 64; no '/' or '..')")


def _names(value: object) -> str | None:
    """A non-empty list of distinct safe names (data.products)."""
    names = [str(v) for v in value]
    bad = next((n for n in names if _name(n)), None)
    if bad is not None:
        return f"lists {bad!r}, which {_name(bad)}"
    if not names or len(set(names)) != len(names):
        return "must list at least one product, each once"
    return None


SETTINGS: dict[str, Setting] = {
    "as_of": Setting(str, nullable=True, check=_month),
    "progress": Setting(bool),
    "plots": Setting(bool),
    "seed": Setting(int, 0, 2**32 - 1),
    "backtest.h": Setting(int, 1, 36),
    "backtest.n_windows": Setting(int, 1, 240),
    "backtest.step": Setting(int, 1, 36),
    "backtest.min_train": Setting(int, 12, 1200),
    "backtest.calibrate": Setting(bool),
    "backtest.n_jobs": Setting(int, -1, 256, check=lambda v: "must not be 0" if v == 0 else None),
    "backtest.score_on": Setting(str, check=_one_of(*SCORE_ON)),
    "publish.enabled": Setting(bool),
    "publish.h": Setting(int, 1, 60),
    "publish.overwrite": Setting(bool),
    "publish.nowcast": Setting(bool),
    "publish.dir": Setting(str),
    "publish.scenario_effect.enabled": Setting(bool),
    "publish.scenario_effect.alpha": Setting(float, 0.0, 1e6),
    "tracking.enabled": Setting(bool),
    "tracking.uri": Setting(str),
    "tracking.register_model": Setting(bool),
    "tracking.experiment": Setting(str, check=lambda v: None if str(v).strip() else "is empty"),
    "scenario.name": Setting(str, check=_name),
    "data.store": Setting(str, nullable=True),
    "data.product": Setting(str, check=_name),
    "data.products": Setting(list, nullable=True, check=_names),
    "data.vintage": Setting(str, check=_one_of(*VINTAGES)),
    "data.max_value": Setting(float, 1e-6, 1e15),
    "data.min_month": Setting(str, check=lambda v: None if v == "auto" else _month(v)),
    "data.n_series": Setting(int, 1, 1_000_000),
    "data.n_months": Setting(int, 24, 1200),
    "data.seed": Setting(int, 0, 2**32 - 1),
    "data.intermittent_share": Setting(float, 0.0, 1.0),
    "data.end": Setting(str, check=_month),
    "engine.name": Setting(str, check=_one_of(*ENGINES)),
    "engine.address": Setting(str, nullable=True),
    "engine.n_workers": Setting(int, 1, 1024),
    "engine.threads_per_worker": Setting(int, 1, 256),
    "engine.processes": Setting(bool),
    "engine.partitions": Setting(int, 1, 100_000, nullable=True),
    "engine.dashboard_address": Setting(str, nullable=True),
    "engine.num_cpus": Setting(int, 1, 1024),
}


def _fail(key: str, message: str) -> InputError:
    return InputError(SOURCE, f"{key} {message}", column=key)


def _check_one(key: str, spec: Setting, value: object) -> None:
    """Raise an InputError naming `key` when `value` is not of its type and range."""
    if value is None:
        if not spec.nullable:
            raise _fail(key, "must be set (got null)")
        return
    kind_ok = (isinstance(value, bool) if spec.kind is bool
               else isinstance(value, spec.kind) and not isinstance(value, bool)
               or (spec.kind is float and isinstance(value, int) and not isinstance(value, bool)))
    if not kind_ok:
        raise _fail(key, f"={value!r} is not {'a' if spec.kind is not int else 'an'} "
                    f"{spec.kind.__name__}")
    if spec.low is not None and not spec.low <= value <= spec.high:
        raise _fail(key, f"={value!r} is outside {spec.low:g}..{spec.high:g}")
    message = spec.check(value) if spec.check else None
    if message:
        raise _fail(key, f"={value!r} {message}")


def check_settings(cfg: DictConfig) -> None:
    """Every typed setting of the composed config, checked; InputError on the first bad one."""
    for key, spec in SETTINGS.items():
        if OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
            continue  # a setting some configs leave out
        value = OmegaConf.select(cfg, key)
        _check_one(key, spec, list(value) if isinstance(value, ListConfig) else value)
    if tuple(sorted(cfg.backtest.level)) != LEVELS:
        raise _fail("backtest.level", f"={list(cfg.backtest.level)}: only {list(LEVELS)} are "
                    "supported (the published schema has lo_80..hi_95)")


def check_overrides(overrides: Iterable[str], cfg: DictConfig) -> None:
    """Refuse `+key=value` overrides that add a setting no config group defines (a typo such
    as `+backtest.nwindows=4` would otherwise be ignored). Allowed: keys inside FREE_FORM
    subtrees (constructor arguments, builder parameters) and `+group=option` or
    `+group@package=option` additions (e.g. `+scenario@scenario.scenarios.mine=mine`)."""
    for override in overrides:
        if not override.startswith("+"):
            continue
        key = override.lstrip("+").split("=", 1)[0].strip()
        if key.startswith(FREE_FORM) or (CONF_DIR / key.split("@", 1)[0]).is_dir():
            continue
        known = [k for k in _keys(OmegaConf.to_container(cfg, resolve=False)) if k != key]
        hint = difflib.get_close_matches(key, known, n=1)
        raise _fail(key, "is not a setting of any config group"
                    + (f"; did you mean {hint[0]}?" if hint else "; see forecast --help"))


def _keys(node: object, prefix: str = "") -> list[str]:
    """Dotted keys of every mapping entry of a plain config tree."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}{k}"
            out.append(key)
            out += _keys(v, key + ".")
    return out


def check_name(key: str, value: object) -> None:
    """Refuse a name that becomes a path unless it is safe (as scenario.name); InputError naming
    `key`."""
    _check_one(key, SETTINGS["scenario.name"], value)
