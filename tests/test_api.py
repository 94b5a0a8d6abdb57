"""forecasting.api on a tiny long panel: DataFrames back, the CLI's errors, the README example."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from forecasting import api
from forecasting.publish import PUBLIC_COLUMNS, read_published
from forecasting.schema import InputError
from tests.conftest import build_panel

# two cheap models, one worker: the job's whole path in a couple of seconds
CHEAP = ["models=stats", "models.n_jobs=1", "~models.forecasters.intermittent",
         "~models.forecasters.stats.combinations",
         "models.forecasters.stats.models=[{_target_:statsforecast.models.SeasonalNaive,"
         "season_length:12,alias:SeasonalNaive},{_target_:statsforecast.models.Naive,alias:Naive}]",
         "models.routing.smooth=Naive", "models.routing.intermittent=Naive",
         "backtest.n_windows=3", "backtest.h=2", "publish.h=3"]
README = Path(__file__).resolve().parents[1] / "README.md"


def long_panel() -> pd.DataFrame:
    """Two series, 48 months, Timestamps and floats as a notebook would hold them."""
    panel = build_panel(n_series=2, months=48, seed=4)
    return panel.loc[panel["unique_id"] != "WORLD", ["unique_id", "ds", "y"]]


@pytest.fixture(scope="module", name="fc")
def forecast_frame() -> pd.DataFrame:
    """api.forecast on the tiny panel, shared."""
    return api.forecast(long_panel(), overrides=CHEAP)


def test_forecast_returns_the_published_columns_for_every_series(fc: pd.DataFrame) -> None:
    assert list(fc.columns) == list(PUBLIC_COLUMNS)
    assert sorted(fc["destination"].unique()) == ["DE", "US"]  # hierarchy none: no WORLD added
    assert list(fc["month"].unique()) == ["2023-01", "2023-02", "2023-03"]
    assert (fc["as_of"] == "2022-12").all() and list(fc["horizon"].unique()) == [1, 2, 3]
    assert (fc["lo_80"] <= fc["tonnes"]).all() and (fc["tonnes"] <= fc["hi_80"]).all()


def test_backtest_returns_leaderboard_and_fold_forecasts(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    board, folds, choice = api.backtest(long_panel(), overrides=CHEAP, run_dir=tmp_path / "run")
    assert {"SeasonalNaive", "Naive"} <= set(board["model"])
    assert board.loc[board["model"] == "SeasonalNaive", "skill"].item() == pytest.approx(0.0)
    assert folds["cutoff"].nunique() == 3 and folds["horizon"].max() == 2
    assert {"DE", "US"} == set(choice["unique_id"])
    assert (tmp_path / "run" / "leaderboard.csv").exists()  # run_dir keeps the job's files
    # by default no MLflow store, no plot, nothing published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert not list((tmp_path / "run").glob("*.png"))


def test_publish_writes_what_forecast_returns(tmp_path: Path, fc: pd.DataFrame) -> None:
    result = api.publish(long_panel(), overrides=CHEAP, publish_dir=tmp_path / "it's = pub")
    path = result.csv_paths["status_quo"]
    assert path == tmp_path / "it's = pub" / "2022-12" / "forecast_status_quo.csv"
    assert result.manifest_path.exists()
    pd.testing.assert_frame_equal(read_published(path), fc, check_dtype=False)


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.assign(ds=df["ds"] + pd.Timedelta(days=30)), r"row 0, column 'ds'"),
    (lambda df: df.assign(y=df["y"].astype(object).where(df.index != 5, "lots")),
     r"row 5, column 'y': 'lots' is not a number"),
    (lambda df: df.drop(columns="y"), r"column 'y': missing column"),
])
def test_bad_frames_raise_input_error_naming_row_and_column(change, message) -> None:
    with pytest.raises(InputError, match=message):
        api.forecast(change(long_panel().reset_index(drop=True)), overrides=CHEAP)


def test_bad_overrides_raise_input_error() -> None:
    with pytest.raises(InputError, match=r"backtest.n_windows =0 is outside 1..240"):
        api.forecast(long_panel(), [*CHEAP, "backtest.n_windows=0"])
    with pytest.raises(InputError, match="overrides"):
        api.config(["nosuchgroup.key=1"])
    with pytest.raises(InputError, match="did you mean backtest.n_windows"):
        api.config(["+backtest.nwindows=4"])


def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = README.read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert list(scope["fc"].columns) == list(PUBLIC_COLUMNS)
