"""StatsForecaster: conformal windows per model, and nothing carried between calls."""

from __future__ import annotations

import pandas as pd
from statsforecast.models import IMAPA, AutoCES, Naive, SeasonalNaive

from forecasting.data.synthetic import synthetic_panel
from forecasting.models.stats import StatsForecaster
from forecasting.schema import ID_COL

AS_OF = pd.Timestamp("2025-12-01")


def _panel() -> pd.DataFrame:
    return synthetic_panel(n_series=4, n_months=60, seed=0, end="2025-12")


def test_a_reused_forecaster_forecasts_as_a_fresh_one() -> None:
    """statsforecast keeps the first conformal windows set on a model instance: a backtest
    at h=3 then a final forecast at h=12 on the same forecaster fell back to Naive."""
    panel = _panel()
    used = StatsForecaster([IMAPA(alias="IMAPA")], fallback=Naive(alias="Fallback"),
                           conformal_windows=2, n_jobs=1)
    used.forecast(panel, h=3, as_of=AS_OF - pd.DateOffset(months=6))
    again = used.forecast(panel, h=12, as_of=AS_OF)
    fresh = StatsForecaster([IMAPA(alias="IMAPA")], fallback=Naive(alias="Fallback"),
                            conformal_windows=2, n_jobs=1).forecast(panel, h=12, as_of=AS_OF)
    pd.testing.assert_frame_equal(again, fresh)
    assert used.models[0].prediction_intervals is None


def test_conformal_models_take_windows_and_the_others_keep_their_own_intervals() -> None:
    panel = _panel()
    models = [SeasonalNaive(season_length=12, alias="SeasonalNaive"),
              AutoCES(season_length=12, alias="AutoCES")]
    own = StatsForecaster(models, n_jobs=1).forecast(panel, h=6, as_of=AS_OF)
    mixed = StatsForecaster(models, conformal_windows=2, conformal_models=["AutoCES"],
                            n_jobs=1).forecast(panel, h=6, as_of=AS_OF)
    sn = [c for c in own.columns if c.startswith("SeasonalNaive")]
    pd.testing.assert_frame_equal(own[sn], mixed[sn])  # untouched: its own intervals
    pd.testing.assert_series_equal(own["AutoCES"], mixed["AutoCES"])  # same point
    assert not own["AutoCES-hi-80"].equals(mixed["AutoCES-hi-80"])  # conformal, not simulated
    assert (mixed["AutoCES-hi-95"] >= mixed["AutoCES-hi-80"]).all()
    assert (mixed["AutoCES-hi-80"] > mixed["AutoCES"]).any()


def test_a_series_too_short_for_the_windows_keeps_the_model_s_own_intervals() -> None:
    panel = _panel()
    short = panel[panel[ID_COL] == "SYN-2"].tail(12)
    panel = pd.concat([panel[panel[ID_COL] != "SYN-2"], short], ignore_index=True)
    models = [AutoCES(season_length=12, alias="AutoCES")]
    mixed = StatsForecaster(models, conformal_windows=2, conformal_models=["AutoCES"],
                            n_jobs=1).forecast(panel, h=6, as_of=AS_OF).set_index(ID_COL)
    own = StatsForecaster(models, n_jobs=1).forecast(
        short, h=6, as_of=AS_OF).set_index(ID_COL)
    pd.testing.assert_frame_equal(mixed.loc[["SYN-2"]], own.loc[["SYN-2"]])


def test_conformal_models_need_windows_and_absent_models_are_ignored() -> None:
    import pytest

    with pytest.raises(ValueError, match="conformal_models"):
        StatsForecaster([Naive(alias="Naive")], conformal_models=["Naive"])
    plain = StatsForecaster([Naive(alias="Naive")], conformal_windows=2,
                            conformal_models=["AutoCES"])
    assert plain.conformal_models == []
    own = StatsForecaster([Naive(alias="Naive")]).forecast(_panel(), h=3, as_of=AS_OF)
    pd.testing.assert_frame_equal(plain.forecast(_panel(), h=3, as_of=AS_OF), own)
