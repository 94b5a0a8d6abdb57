"""The job's published forecasts as an MLflow pyfunc model: call arguments in, forecasts out.

MLflow logs this file as the model's code ("models from code"): it needs only mlflow and
pandas, so a consumer loads the model without this project installed.
"""

from __future__ import annotations

import mlflow
import pandas as pd

ARTIFACT = "forecasts"


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


mlflow.models.set_model(PublishedForecaster())
