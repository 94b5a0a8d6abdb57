"""One model failing on one series falls back to the baseline there and the run goes on; a model
failing everywhere stops the job: MLflow run FAILED, exit 1, one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.linear_model import LinearRegression
from statsforecast.models import Naive, SeasonalNaive

from forecasting.backtest.run import FALLBACK_COL, forecast_all, n_fallbacks, run_backtest
from forecasting.cli import CONF_DIR
from forecasting.job import run_job
from forecasting.models.base import clip_forecasts
from forecasting.models.routing import model_columns
from forecasting.models.stats import StatsForecaster
from forecasting.schema import FREQ, ID_COL, LEVELS, TARGET_COL, TIME_COL, hi_col, lo_col
from tests.conftest import build_panel
from tests.test_job import small_cfg

BASELINE = "SeasonalNaive"
CUTOFFS = [pd.Timestamp("2022-06-01"), pd.Timestamp("2022-09-01")]


class TrendFailingOn:
    """A real sklearn model per series (linear trend on the month index, +-z*residual sd
    intervals) that raises on the series named in `fail_on` (every series for "*")."""

    def __init__(self, fail_on: str, alias: str = "Trend") -> None:
        self.fail_on, self.aliases = fail_on, [alias]

    def forecast(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                 scenario: object | None = None, level: tuple[int, ...] = LEVELS,
                 ) -> pd.DataFrame:
        """Fit a LinearRegression per series up to as_of and extrapolate h months."""
        [alias], rows = self.aliases, []
        for uid, s in panel.loc[panel[TIME_COL] <= as_of].groupby(ID_COL):
            if self.fail_on in (uid, "*"):
                raise ValueError(f"cannot fit {uid}")
            t = np.arange(len(s)).reshape(-1, 1)
            fit = LinearRegression().fit(t, s[TARGET_COL].to_numpy())
            sd = float(np.std(s[TARGET_COL].to_numpy() - fit.predict(t)))
            point = fit.predict(np.arange(len(s), len(s) + h).reshape(-1, 1))
            out = pd.DataFrame({ID_COL: uid, TIME_COL: pd.date_range(
                pd.Timestamp(as_of) + pd.offsets.MonthBegin(1), periods=h, freq=FREQ),
                alias: point})
            for lv, z in zip(level, (1.28, 1.96), strict=False):
                out[lo_col(alias, lv)], out[hi_col(alias, lv)] = point - z * sd, point + z * sd
            rows.append(out)
        return clip_forecasts(pd.concat(rows, ignore_index=True), [alias], level)


def stats() -> StatsForecaster:
    """The baseline's forecaster."""
    return StatsForecaster([SeasonalNaive(season_length=12, alias=BASELINE), Naive()], n_jobs=1)


def test_without_a_baseline_one_failing_series_stops_the_backtest() -> None:
    panel = build_panel(n_series=3, months=48)
    with pytest.raises(ValueError, match="cannot fit US"):
        run_backtest(panel, [stats(), TrendFailingOn("US")], h=3, cutoffs=CUTOFFS,
                     progress=False)


def test_a_series_the_model_fails_on_gets_the_baseline_and_the_run_goes_on() -> None:
    panel = build_panel(n_series=3, months=48)  # DE, US and WORLD
    with pytest.warns(RuntimeWarning) as caught:
        bt = run_backtest(panel, [stats(), TrendFailingOn("US")], h=3, cutoffs=CUTOFFS,
                          progress=False, baseline=BASELINE)
    messages = [str(w.message) for w in caught if "failed on series" in str(w.message)]
    assert messages == ["Trend failed on series US (ValueError: cannot fit US): SeasonalNaive's "
                        "forecast stands in at 2 forecast origins (column 'fallback')"]
    assert bt.columns[-1] == FALLBACK_COL
    us = bt[ID_COL] == "US"
    assert (bt.loc[us, FALLBACK_COL] == "Trend").all() and (bt.loc[~us, FALLBACK_COL] == "").all()
    trend, base = model_columns("Trend"), model_columns(BASELINE)
    np.testing.assert_array_equal(bt.loc[us, trend].to_numpy(), bt.loc[us, base].to_numpy())
    # the other series keep the model's own forecast, fitted without the failing series
    assert not np.allclose(bt.loc[~us, "Trend"], bt.loc[~us, BASELINE])
    alone = TrendFailingOn("none").forecast(panel.loc[panel[ID_COL] == "DE"], h=3,
                                            as_of=CUTOFFS[0])
    first = bt.loc[(bt[ID_COL] == "DE") & (bt["cutoff"] == CUTOFFS[0]), "Trend"].to_numpy()
    np.testing.assert_allclose(first, alone["Trend"].to_numpy())
    assert not bt[trend].isna().any().any()
    assert n_fallbacks(bt) == 2  # one series at two cutoffs


def test_a_model_failing_on_every_series_or_the_baselines_own_still_raise() -> None:
    panel = build_panel(n_series=3, months=48)
    with pytest.raises(ValueError, match="cannot fit"):
        forecast_all([stats(), TrendFailingOn("*")], panel, h=3, as_of=CUTOFFS[0],
                     baseline=BASELINE)
    with pytest.raises(ValueError, match="cannot fit US"):
        forecast_all([stats(), TrendFailingOn("US", alias=BASELINE)], panel, h=3,
                     as_of=CUTOFFS[0], baseline=BASELINE)


TREND = "{_target_: tests.test_backtest_fallback.TrendFailingOn, fail_on: %s, alias: Trend}"
# the cheapest suite the real conf allows: SeasonalNaive and Naive, routed to Naive
CHEAP = ("models.forecasters.stats.models=[{_target_: statsforecast.models.SeasonalNaive, "
         "season_length: 12, alias: SeasonalNaive}, {_target_: statsforecast.models.Naive, "
         "alias: Naive}]", "~models.forecasters.stats.combinations",
         "~models.forecasters.intermittent", "models.routing.smooth=Naive",
         "models.routing.intermittent=Naive", "backtest.n_windows=2", "plots=false")


def test_the_job_publishes_with_the_fallback_marked_and_counted(tmp_path: Path) -> None:
    cfg = small_cfg(tmp_path, f"+models.forecasters.trend={TREND % 'US'}", *CHEAP,
                    "publish.choice=Trend", "publish.scenario_effect.enabled=false")
    with pytest.warns(RuntimeWarning, match="Trend failed on series US"):
        result = run_job(cfg, run_dir=tmp_path / "run", run_name="fallback")
    bt = pd.read_csv(result.files["backtest.csv"], keep_default_na=False)
    assert set(bt.loc[bt[ID_COL] == "US", FALLBACK_COL]) == {"Trend"}
    assert set(bt.loc[bt[ID_COL] != "US", FALLBACK_COL]) == {""}
    run = MlflowClient(tracking_uri=cfg.tracking.uri).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["n_fallbacks"] == 2.0  # US at each of the 2 cutoffs
    published = pd.read_csv(result.files["forecast_status_quo.csv"])
    us = published.loc[published[ID_COL] == "US", "model"]
    assert (us == f"Trend (Trend fell back to {BASELINE})").all()
    assert (published.loc[published[ID_COL] == "DE", "model"] == "Trend").all()


def test_a_job_stopped_by_an_error_is_failed_and_says_one_line(tmp_path: Path) -> None:
    data = tmp_path / "panel.csv"
    panel = build_panel(n_series=2, months=40, seed=2)
    pd.DataFrame({"destination": panel[ID_COL], "month": panel[TIME_COL].dt.strftime("%Y-%m"),
                  "tonnes": panel[TARGET_COL]}).to_csv(data, index=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = subprocess.run(
        [sys.executable, "-m", "forecasting.cli", f"data.path={data}", "models=stats",
         f"+models.forecasters.trend={TREND % '*'}", *CHEAP,
         "progress=false", "publish.enabled=false", f"tracking.uri={uri}",
         f"hydra.run.dir={tmp_path}/run"],
        cwd=Path(CONF_DIR).parent, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == ("error: ValueError: cannot fit DE (the run failed; HYDRA_FULL_ERROR=1 "
                         "shows the traceback)")
    assert not any("Traceback" in line for line in lines)
    client = MlflowClient(tracking_uri=uri)
    [run] = client.search_runs([client.get_experiment_by_name("magnet-forecasting").experiment_id])
    assert run.info.status == "FAILED"
