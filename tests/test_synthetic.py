"""The seeded synthetic panel: same seed same panel, shape, intermittency, labelled in outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from forecasting.cli import CONF_DIR
from forecasting.data.synthetic import PREFIX, policy_shifts, synthetic_panel
from forecasting.job import run_job
from forecasting.models.routing import classify_series
from forecasting.schema import ID_COL, STATUS_COL, TARGET_COL, TIME_COL, InputError
from forecasting.settings import check_settings

# SeasonalNaive and Naive only: a whole job in seconds
CHEAP_MODELS = (
    "models=stats", "~models.forecasters.intermittent", "~models.forecasters.stats.combinations",
    "models.routing.intermittent=Naive", "models.routing.smooth=Naive",
    "models.forecasters.stats.models=[{_target_:statsforecast.models.SeasonalNaive,"
    "season_length:12,alias:SeasonalNaive},{_target_:statsforecast.models.Naive,alias:Naive}]",
)


def synthetic_cfg(tmp: Path, *overrides: str):
    """The real conf/ with data=synthetic, cheap models and a short backtest."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            "data=synthetic", "data.n_series=6", "data.n_months=48", *CHEAP_MODELS,
            "backtest.h=2", "backtest.n_windows=2", "publish.h=3", "plots=false",
            "progress=false", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            f"publish.dir={tmp}/pub", *overrides])


def test_same_seed_same_panel_other_seed_other_panel() -> None:
    a = synthetic_panel(n_series=20, n_months=36, seed=4)
    pd.testing.assert_frame_equal(a, synthetic_panel(n_series=20, n_months=36, seed=4))
    assert not np.allclose(a[TARGET_COL], synthetic_panel(n_series=20, n_months=36, seed=5)[
        TARGET_COL])


def test_shape_months_ids_and_status() -> None:
    panel = synthetic_panel(n_series=120, n_months=96, seed=0, end="2025-12")
    assert len(panel) == 120 * 96 and panel[ID_COL].nunique() == 120
    assert panel[ID_COL].str.startswith(PREFIX).all()
    months = panel.groupby(ID_COL)[TIME_COL].agg(["min", "max", "size"])
    assert (months["min"] == pd.Timestamp("2018-01-01")).all()
    assert (months["max"] == pd.Timestamp("2025-12-01")).all() and (months["size"] == 96).all()
    assert (panel[TARGET_COL] >= 0).all() and panel[TARGET_COL].notna().all()
    assert (panel[STATUS_COL] == "reported").all()


def test_intermittent_share_and_classes() -> None:
    panel = synthetic_panel(n_series=600, n_months=96, seed=1, intermittent_share=0.25)
    zero_share = (panel[TARGET_COL] == 0).groupby(panel[ID_COL]).mean()
    assert (zero_share > 0.2).mean() == pytest.approx(0.25, abs=0.05)
    assert (zero_share[zero_share <= 0.2] == 0).all()  # smooth series never ship 0 t
    classes = classify_series(panel)["demand_class"]
    assert classes.isin(["intermittent", "lumpy"]).mean() == pytest.approx(0.25, abs=0.06)
    smooth = synthetic_panel(n_series=50, n_months=60, seed=1, intermittent_share=0.0)
    assert (smooth[TARGET_COL] > 0).all()


def test_seasonality_and_policy_shifts_are_in_the_panel() -> None:
    panel = synthetic_panel(n_series=300, n_months=96, seed=2, intermittent_share=0.0)
    wide = np.log(panel.pivot(index=ID_COL, columns=TIME_COL, values=TARGET_COL))
    months = wide.columns
    shifts = policy_shifts(pd.DatetimeIndex(months))
    assert [months[i].strftime("%Y-%m") for i, _ in shifts][:1] == ["2025-04"]
    april = [i for i, _ in shifts][0]  # the April 2025 tightening: a fall on average
    assert (wide.iloc[:, april] - wide.iloc[:, april - 1]).mean() < -0.05
    lag12 = wide.diff(12, axis=1).iloc[:, 12:70].stack().var()
    lag1 = wide.diff(1, axis=1).iloc[:, 12:70].stack().var()
    assert lag12 < lag1 * 1.5  # yearly profile: a year back is about as close as a month back


def test_bad_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data.n_series"):
        check_settings(synthetic_cfg(tmp_path, "data.n_series=0"))
    with pytest.raises(InputError, match="data.end"):
        check_settings(synthetic_cfg(tmp_path, "data.end=2025-13"))


def test_job_labels_the_data_synthetic_in_tags_manifest_and_summary(tmp_path: Path) -> None:
    cfg = synthetic_cfg(tmp_path)
    result = run_job(cfg, run_dir=tmp_path / "run")
    assert result.data_source.startswith("SYNTHETIC panel") and "seed=0" in result.data_source
    tags = MlflowClient(tracking_uri=cfg.tracking.uri).get_run(result.run_id).data.tags
    assert tags["data_format"] == "synthetic" and tags["data_source"] == result.data_source
    manifest = json.loads(result.published.manifest_path.read_text())
    assert manifest["data_source"].startswith("SYNTHETIC")
    published = pd.read_csv(result.published.csv_paths["status_quo"])
    assert published["destination"].str.startswith(PREFIX).all()
    assert published["destination"].nunique() == 6
