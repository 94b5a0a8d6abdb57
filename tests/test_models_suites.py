"""The model suites of conf/models: what each composes to, and a real fit on the bundled panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.data.bundle import load_bundled_panel
from forecasting.models.ml import GlobalRegressor
from forecasting.models.registry import build_forecasters
from forecasting.models.stats import StatsForecaster
from forecasting.schema import ID_COL, TIME_COL

STATS = {"SeasonalNaive", "Naive", "AutoETS", "AutoTheta", "AutoCES", "DOT", "StatsCombo",
         "CrostonOptimized", "TSB", "ADIDA", "IMAPA"}
SUITES = {
    "stats": STATS,
    "default": STATS | {"HistGradientBoosting", "PooledHGB", "Hybrid"},
    "full": STATS | {"HistGradientBoosting", "PooledHGB", "Hybrid", "AutoARIMA", "Ridge",
                     "AutoARIMAX"},
    "ml": {"SeasonalNaive", "HistGradientBoosting", "Ridge"},
    "fast": {"SeasonalNaive", "Naive", "DOT", "CrostonOptimized", "TSB", "ADIDA", "IMAPA",
             "HistGradientBoosting", "PooledHGB", "Hybrid"},
}


def suite(name: str, *overrides: str) -> list:
    """The forecasters of models=`name` from the real conf/."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"models={name}", *overrides])
    return build_forecasters(cfg.models)


@pytest.mark.parametrize(("name", "expected"), SUITES.items())
def test_each_suite_composes_to_its_models(name, expected):
    forecasters = suite(name)
    assert {a for f in forecasters for a in f.aliases} == expected
    combos = [f.combinations for f in forecasters if isinstance(f, StatsForecaster)]
    members = {m for c in combos for spec in c.values() for m in spec["members"]}
    if "StatsCombo" in expected:
        assert members == {"AutoETS", "AutoCES", "DOT"} | (
            {"AutoARIMA"} if name == "full" else set())
    globals_ = [f for f in forecasters if isinstance(f, GlobalRegressor)]
    assert all(g.target_transforms and g.lags == list(range(1, 25)) and g.strategy == "recursive"
               for g in globals_)
    assert all(f.n_jobs == -1 for f in forecasters if isinstance(f, StatsForecaster)
               and name != "ml")


def test_suite_settings_reach_the_models():
    forecasters = suite("default", "models.n_jobs=1",
                        "models.forecasters.hgb.strategy=direct",
                        "models.forecasters.stats.combinations.StatsCombo.method=mean")
    stats = next(f for f in forecasters if isinstance(f, StatsForecaster))
    hgb = next(f for f in forecasters if isinstance(f, GlobalRegressor))
    assert stats.n_jobs == 1 and hgb.strategy == "direct"
    assert stats.combinations["StatsCombo"]["method"] == "mean"


def test_default_suite_fits_the_bundled_panel():
    panel = load_bundled_panel()
    as_of = panel[TIME_COL].max() - pd.DateOffset(months=6)
    forecasters = [f for f in suite("default", "models.n_jobs=1")
                   if set(f.aliases) & {"StatsCombo", "HistGradientBoosting"}]
    for forecaster in forecasters:
        fcst = forecaster.forecast(panel, h=6, as_of=as_of)
        assert len(fcst) == panel[ID_COL].nunique() * 6
        for alias in forecaster.aliases:
            values = fcst[[alias, f"{alias}-lo-95", f"{alias}-hi-95"]].to_numpy()
            assert np.isfinite(values).all(), alias
            assert (fcst[f"{alias}-hi-95"] > fcst[f"{alias}-lo-95"]).mean() > 0.9, alias


def test_the_fast_suite_routes_to_a_model_it_has_and_ces_bands_are_conformal():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        fast = compose("config", overrides=["models=fast"]).models
        default = compose("config").models
    hybrid = next(f for f in build_forecasters(fast) if f.aliases == ["Hybrid"])
    assert hybrid.members == ["DOT", "PooledHGB"] and fast.routing.smooth == "Hybrid"
    stats = next(f for f in build_forecasters(default) if "AutoCES" in f.aliases)
    assert stats.conformal_models == ["AutoCES"] and stats.conformal_windows == 2
