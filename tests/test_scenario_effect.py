"""The scenario effect: learnt from a known synthetic policy effect, applied as a multiplier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.scenario_effect import PolicyEffect, apply_multiplier
from forecasting.scenarios import Scenario, scenario_from_config
from forecasting.schema import ID_COL, TARGET_COL, TIME_COL
from tests.test_features_policy import event

IDS = ["DE", "US", "JP"]


def synthetic(seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 seasonal months; JP exports halve once a JP-only licensing regime starts in 2023-03."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2020-01-01", periods=60, freq="MS")
    level = np.array([800.0, 300.0, 150.0])[:, None]
    season = 1 + 0.25 * np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    hit = (np.array(IDS)[:, None] == "JP") & (ds >= pd.Timestamp("2023-03-01"))[None, :]
    y = level * season * np.where(hit, 0.5, 1.0) * rng.lognormal(0, 0.05, size=(3, 60))
    panel = pd.DataFrame({ID_COL: np.repeat(IDS, 60), TIME_COL: np.tile(ds, 3),
                          TARGET_COL: y.ravel(), "status": "reported"})
    events = pd.DataFrame([event("2023-02-20", "2023-03-01", destinations="JP")])
    from forecasting.data.policy_calendar import validate_policy_events

    return panel, validate_policy_events(events, source="test")


def scenario(name: str, events: list[dict]) -> Scenario:
    """A scenario with the given future events."""
    return scenario_from_config({"name": name, "description": name, "events": events},
                                source=name)


def test_learns_the_size_of_a_known_policy_effect() -> None:
    panel, events = synthetic()
    effect = PolicyEffect(features=("pol_tighten",), alpha=0.01, events=events).fit(
        panel, as_of=panel[TIME_COL].max())
    # y/y log change falls by log(0.5) in the first regime year, 0 afterwards
    assert np.exp(effect.coef_["pol_tighten"]) == pytest.approx(0.5, abs=0.08)


def test_multiplier_is_one_for_the_reference_and_lifts_when_the_regime_ends() -> None:
    panel, events = synthetic()
    effect = PolicyEffect(features=("pol_tighten",), alpha=0.01, events=events).fit(
        panel, as_of=panel[TIME_COL].max())
    base = scenario("base", [])
    lifted = scenario("lifted", [{"effective": "2025-04-01", "kind": "suspension",
                                  "direction": "ease", "magnets": "yes", "destinations": "JP",
                                  "title": "JP licensing lifted", "suspends": "2023-02-20"}])
    same = effect.multiplier(panel, h=6, scenario=base, reference=base)
    assert np.allclose(same["multiplier"], 1.0)
    mult = effect.multiplier(panel, h=6, scenario=lifted, reference=base).set_index(
        [ID_COL, TIME_COL])["multiplier"]
    assert np.allclose(mult.loc["DE"], 1.0) and np.allclose(mult.loc["US"], 1.0)
    jp = mult.loc["JP"]
    assert np.allclose(jp.loc[:"2025-03-01"], 1.0)
    assert jp.loc["2025-04-01":].min() == pytest.approx(2.0, abs=0.35)  # undoes the halving


def test_apply_multiplier_scales_points_and_bounds_only() -> None:
    frame = pd.DataFrame({ID_COL: ["A", "A"], TIME_COL: pd.to_datetime(["2026-01-01",
                                                                        "2026-02-01"]),
                          "model": "m", "forecast": [10.0, 20.0], "forecast-lo-80": [5.0, 10.0]})
    mult = pd.DataFrame({ID_COL: ["A"], TIME_COL: [pd.Timestamp("2026-02-01")],
                         "multiplier": [0.5]})
    out = apply_multiplier(frame, mult, ["forecast", "forecast-lo-80"])
    assert out["forecast"].tolist() == [10.0, 10.0]
    assert out["forecast-lo-80"].tolist() == [5.0, 5.0]
    assert list(out.columns) == list(frame.columns)


def test_no_reported_month_means_no_effect_rather_than_a_crash() -> None:
    panel, events = synthetic()
    panel["status"] = "estimated"
    effect = PolicyEffect(features=("pol_tighten",), events=events).fit(
        panel, as_of=panel[TIME_COL].max())
    assert effect.n_rows_ == 0 and effect.coef_ == {"pol_tighten": 0.0}
    lifted = scenario("lifted", [{"effective": "2025-04-01", "kind": "suspension",
                                  "direction": "ease", "magnets": "yes", "destinations": "JP",
                                  "title": "lifted", "suspends": "2023-02-20"}])
    mult = effect.multiplier(panel, h=3, scenario=lifted, reference=scenario("base", []))
    assert np.allclose(mult["multiplier"], 1.0)
