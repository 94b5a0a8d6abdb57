"""Every experiment config runs end to end on a small synthetic panel (slow)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.job import run_job
from tests.conftest import build_panel
from tests.test_job import write_plain

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_on_a_small_panel(name: str, tmp_path: Path) -> None:
    # ends 2025-09, the as_of of the policy_shock study (an as_of past the data is refused)
    data = write_plain(build_panel(n_series=2, start="2022-06", months=40, seed=4),
                       tmp_path / "panel.csv")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[
            f"experiment={name}", f"data.path={data}", "backtest.n_windows=2",
            f"tracking.uri=sqlite:///{tmp_path}/mlflow.db", f"publish.dir={tmp_path}/pub",
            "progress=false"])
    result = run_job(cfg, run_dir=tmp_path / "run")
    board = pd.read_csv(result.files["leaderboard.csv"])
    aliases = {a for spec in cfg.models.forecasters.values()
               for a in ([m["alias"] for m in spec["models"]] if "models" in spec
                         else [spec["alias"]])}
    assert aliases <= set(board["model"])
    assert board.loc[board["model"] == cfg.models.baseline, "skill"].item() == pytest.approx(0.0)
    assert result.run_id is not None
