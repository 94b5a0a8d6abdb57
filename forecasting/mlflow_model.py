"""The job's published forecasts as an MLflow pyfunc model: call arguments in, forecasts out."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types import ColSpec, Schema

from forecasting.publish import PUBLIC_COLUMNS, to_public

ARTIFACT = "forecasts"
INPUT_SCHEMA = Schema([ColSpec("long", "h", required=False),
                       ColSpec("string", "scenario", required=False)])
OUTPUT_SCHEMA = Schema([ColSpec("string", c) for c in PUBLIC_COLUMNS[:4]]
                       + [ColSpec("long", "horizon"), ColSpec("string", "model")]
                       + [ColSpec("double", c) for c in PUBLIC_COLUMNS[6:]])


class PublishedForecaster(mlflow.pyfunc.PythonModel):
    """Serves the forecasts a job published, in the published CSV schema; it does not refit.

    The artifact `forecasts.csv` holds every scenario the job forecast, exactly as published:
    the chosen model (or ensemble) per series, intervals calibrated on the backtest,
    reconciled to WORLD. Refitting here would either repeat the whole job (backtest, choice,
    calibration, reconciliation) or give numbers no backtest scored; so a served number is
    always one that the run's evidence stands behind, and a new month is a new job and a new
    model version.

    Input, as in the mlforecast flavor: a DataFrame of call arguments, one row per call:
    `h` (months ahead, 1 to the published horizon; missing or null = all) and `scenario`
    (missing or null = the first scenario published). Output: the rows of those calls.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Read the carried forecasts."""
        self.forecasts_ = pd.read_csv(context.artifacts[ARTIFACT], dtype={"as_of": str})

    def predict(self, context: mlflow.pyfunc.PythonModelContext | None,
                model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """The published rows for each row of call arguments; ValueError on an unknown call."""
        frames = self.forecasts_
        scenarios = list(dict.fromkeys(frames["scenario"]))
        longest = int(frames["horizon"].max())
        out = []
        for call in (model_input if len(model_input) else pd.DataFrame([{}])).to_dict("records"):
            scenario = call.get("scenario")
            scenario = scenarios[0] if pd.isna(scenario) else str(scenario)
            h = longest if pd.isna(call.get("h", None)) else int(call["h"])
            if scenario not in scenarios:
                raise ValueError(f"scenario={scenario!r} was not forecast; one of {scenarios}")
            if not 1 <= h <= longest:
                raise ValueError(f"h={h} is outside 1..{longest} (the published horizon)")
            out.append(frames.loc[(frames["scenario"] == scenario) & (frames["horizon"] <= h)])
        return pd.concat(out, ignore_index=True)


def public_forecasts(forecasts: Mapping[str, pd.DataFrame], *, as_of: str) -> pd.DataFrame:
    """The job's internal forecast frames per scenario in the published schema, stacked."""
    return pd.concat([to_public(frame, as_of=as_of, scenario=name)
                      for name, frame in forecasts.items()], ignore_index=True)


def log_forecaster(forecasts: Mapping[str, pd.DataFrame], *, as_of: str,
                   registered_model_name: str | None = None) -> ModelInfo:
    """Log a PublishedForecaster carrying `forecasts` to the active run (and register it)."""
    public = public_forecasts(forecasts, as_of=as_of)
    example = pd.DataFrame({"h": [min(3, int(public["horizon"].max()))],
                            "scenario": [str(public["scenario"].iloc[0])]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{ARTIFACT}.csv"
        public.to_csv(path, index=False)
        return mlflow.pyfunc.log_model(
            name="forecaster", python_model=PublishedForecaster(), artifacts={ARTIFACT: str(path)},
            signature=ModelSignature(inputs=INPUT_SCHEMA, outputs=OUTPUT_SCHEMA),
            input_example=example,
            pip_requirements=[f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}"],
            registered_model_name=registered_model_name)
