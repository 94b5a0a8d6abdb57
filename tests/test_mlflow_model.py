"""The published forecaster registered in a real SQLite store, loaded back by alias, forecasting."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from forecasting import api
from forecasting.publish import read_published
from forecasting.schema import InputError
from forecasting.tracking import CANDIDATE, MODEL_NAME
from tests.test_api import CHEAP, long_panel

URI = "models:/magnet-forecasting@candidate"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """Two tracked jobs on one temporary store: the first without, the second with the model."""
    tmp = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)  # MLflow's default artifact root ./mlruns lands in tmp
        tracked = [*CHEAP, "tracking.enabled=true", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
                   "publish.enabled=true", f"publish.dir={tmp}/pub"]
        first = api.run(long_panel(), [*tracked, "tracking.register_model=false"])
        second = api.run(long_panel(), [*tracked, "publish.overwrite=true"])
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        yield first, second, MlflowClient()


def test_only_the_job_asked_to_registers_and_candidate_points_at_it(store) -> None:
    first, second, client = store
    [version] = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert version.run_id == second.run_id != first.run_id
    assert client.get_model_version_by_alias(MODEL_NAME, CANDIDATE).version == version.version
    assert version.tags["as_of"] == "2022-12"
    assert version.tags["evidence"].startswith(f"published: {second.published_choice.model} (")
    assert set(client.get_registered_model(MODEL_NAME).aliases) == {CANDIDATE}  # no production
    assert client.get_run(second.run_id).data.tags["registered_model"] == f"{MODEL_NAME}/1"
    assert second.registered_model == f"models:/{MODEL_NAME}/1" and first.registered_model is None


def test_loaded_by_alias_it_serves_the_published_rows(store) -> None:
    _, second, _ = store
    model = mlflow.pyfunc.load_model(URI)
    # logged as code (forecasting/mlflow_model.py: mlflow and pandas only), not a pickle
    assert model.metadata.flavors["python_function"]["loader_module"].endswith("code_model")
    published = read_published(second.published.csv_paths["status_quo"])
    got = model.predict(pd.DataFrame({"h": [2], "scenario": ["status_quo"]}))
    expected = published.loc[published["horizon"] <= 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    whole = model.predict(pd.DataFrame({"scenario": [None]}))  # every month, first scenario
    pd.testing.assert_frame_equal(whole, published, check_dtype=False)


@pytest.mark.parametrize(("call", "message"), [
    ({"h": [4]}, r"h=4 is outside 1..3"),
    ({"scenario": ["easing"]}, r"scenario='easing' was not forecast"),
])
def test_calls_outside_what_was_published_are_refused(store, call, message) -> None:
    model = mlflow.pyfunc.load_model(URI)
    with pytest.raises(ValueError, match=message):
        model.predict(pd.DataFrame(call))


def test_register_model_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="tracking.register_model"):
        api.run(long_panel(), [*CHEAP, "tracking.register_model=maybe"])
