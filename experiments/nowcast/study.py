"""How much knowing the WORLD total improves the destination errors of the same month.

Reads a job's backtest.csv and, per model and horizon, compares each destination's forecast
with the same forecasts split top-down to the realised WORLD total (forecasting.nowcast), on
the destination cells whose actual is reported or derived. Usage:
    python experiments/nowcast/study.py outputs/<date>/<time>/backtest.csv [MODEL ...]
"""

from __future__ import annotations

import sys

import pandas as pd

from forecasting.nowcast import band_quantiles, split_errors


def study(backtest: pd.DataFrame, models: list[str], horizons: tuple[int, ...] = (1, 2, 3),
          ) -> pd.DataFrame:
    """One row per model and horizon: cells, MAE and MAPE as forecast and as split."""
    rows = []
    for model in models:
        for h in horizons:
            e = split_errors(backtest, model, horizons=(h,))
            err_raw, err_split = (e["y"] - e["raw"]).abs(), (e["y"] - e["split"]).abs()
            nonzero = e["y"] > 0
            bands = band_quantiles(e)
            rows.append({
                "model": model, "horizon": h, "cells": len(e),
                "series": e["unique_id"].nunique(),
                "mae_forecast": err_raw.mean(), "mae_split": err_split.mean(),
                "mae_change": err_split.mean() / err_raw.mean() - 1,
                "mape_forecast": (err_raw / e["y"])[nonzero].mean(),
                "mape_split": (err_split / e["y"])[nonzero].mean(),
                "band80": "-" if bands is None else f"{bands[80][0]:+.2f}..{bands[80][1]:+.2f}",
            })
    return pd.DataFrame(rows)


if __name__ == "__main__":
    bt = pd.read_csv(sys.argv[1], parse_dates=["ds", "cutoff"])
    models = sys.argv[2:] or ["Naive", "SeasonalNaive", "StatsCombo", "Ensemble"]
    print(study(bt, models).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
