"""Settings typed on the command line: wrong types, ranges, names and unknown keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.schema import InputError
from forecasting.settings import check_overrides, check_settings
from tests.test_cli import run_cli


def composed(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_the_default_config_and_every_scenario_pass() -> None:
    for scenario in ("status_quo", "controls_reimposed", "easing", "all"):
        check_settings(composed(f"scenario={scenario}"))


@pytest.mark.parametrize(("override", "key", "fragment"), [
    ("backtest.h=abc", "backtest.h", "is not an int"),
    ("backtest.h=1.5", "backtest.h", "is not an int"),
    ("backtest.h=0", "backtest.h", "outside 1..36"),
    ("backtest.n_windows=-3", "backtest.n_windows", "outside"),
    ("publish.h=1000", "publish.h", "outside 1..60"),
    ("as_of=1999-13", "as_of", "is not a month"),
    ("as_of=2025-6", "as_of", "is not a month"),
    ("progress=maybe", "progress", "is not a bool"),
    ("seed=-1", "seed", "outside"),
    ("publish.scenario_effect.alpha=-1", "publish.scenario_effect.alpha", "outside"),
    ("scenario.name=../../etc", "scenario.name", "not a safe name"),
    ("scenario.name=a/b", "scenario.name", "not a safe name"),
    ("tracking.experiment=' '", "tracking.experiment", "is empty"),
    ("backtest.level=[80,90]", "backtest.level", "only [80, 95]"),
    ("backtest.score_on=everything", "backtest.score_on", "is not one of reported"),
])
def test_a_bad_setting_names_itself(override: str, key: str, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        check_settings(composed(override))
    assert err.value.column == key and fragment in str(err.value)
    assert str(err.value).startswith("config, column")


def test_an_added_unknown_key_is_refused_with_a_hint() -> None:
    cfg = composed("+backtest.nwindows=4")
    with pytest.raises(InputError, match=r"backtest.nwindows is not a setting.*backtest.n_windows"):
        check_overrides(["+backtest.nwindows=4"], cfg)
    # constructor arguments and whole config groups may be added
    ok = ["+models.forecasters.hgb.estimator.l2_regularization=1.0", "experiment=routing",
          "backtest.h=2"]
    check_overrides(ok, composed(*ok))


def test_cli_refuses_a_typo_with_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, "+backtest.nwindows=4")
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: config, column 'backtest.nwindows': backtest.nwindows is not a "
                      "setting of any config group; did you mean backtest.n_windows?"]
    assert not any((tmp_path / name).exists() for name in ("run", "pub", "m.db"))


def test_adding_a_config_group_is_not_a_typo() -> None:
    check_overrides(["+experiment=routing"], composed())
    added = ["scenario=all", "+scenario@scenario.scenarios.again=easing"]  # at a package
    check_overrides(added, composed(*added))
    with pytest.raises(InputError, match="scenarioo@x is not a setting"):
        check_overrides(["+scenarioo@x=easing"], composed())
