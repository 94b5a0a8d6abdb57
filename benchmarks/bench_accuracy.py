"""Accuracy benchmark on M3 monthly: the toolkit's published forecast against bare statsforecast.

The competition protocol (Makridakis and Hibon, 2000): hold out the last 18 months of each of
the 1,428 monthly series (the shipped file aligns every series to end in 2000-12, so this is
`as_of=1999-06`, `publish.h=18`) and score the forecasts on them. The toolkit is run exactly as
a user runs it, in a fresh temporary directory:

    forecast data.path=<m3 file> data.format=long as_of=1999-06 publish.h=18 [overrides]

so its own backtest before 1999-06 picks models and calibrates intervals, and the published CSV
is scored afterwards. Bare statsforecast models are fitted on the same training months in the
same run (`StatsForecast.forecast`, both cores) and scored the same way.

Scores, mean over series of the mean over the 18 horizons: sMAPE (200|y-f|/(|y|+|f|)), MASE
(scale: in-sample MAE of the 12-month seasonal naive forecast on the training months), coverage
of the 80% and 95% intervals, MSIS at 95% and 80% (M4 mean scaled interval score, same scale).

    .venv/bin/python benchmarks/bench_accuracy.py [--no-arima] [--json PATH] [--write]
        [-- extra forecast overrides]

`--write` replaces the results section of BENCHMARKS.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import (
    AutoARIMA,
    AutoCES,
    AutoETS,
    DynamicOptimizedTheta,
    SeasonalNaive,
    Theta,
)

from forecasting.backtest.metrics import interval_score, smape
from forecasting.schema import ID_COL, SEASON_LENGTH, TARGET_COL, TIME_COL, hi_col, lo_col

ROOT = Path(__file__).resolve().parents[1]
M3_FILE = ROOT / "benchmarks" / "data" / "m3_monthly.csv.gz"
AS_OF, H, LEVELS = "1999-06", 18, (80, 95)
COMBO_MEMBERS = ("AutoETS", "AutoARIMA", "CES", "DynamicOptimizedTheta")  # statsforecast reprs
START, END = "<!-- bench_accuracy:start -->", "<!-- bench_accuracy:end -->"
PUBLISHED = "toolkit (published)"


def load_split(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training months (up to AS_OF) and the 18 held-out months of every series."""
    df = pd.read_csv(path, usecols=[ID_COL, TIME_COL, TARGET_COL])
    df[TIME_COL] = pd.to_datetime(df[TIME_COL])
    cut = pd.Timestamp(AS_OF)
    return df[df[TIME_COL] <= cut].reset_index(drop=True), df[df[TIME_COL] > cut].reset_index(
        drop=True)


def seasonal_scale(train: pd.DataFrame) -> pd.Series:
    """Per series: in-sample MAE of the 12-month seasonal naive forecast."""
    y = train.sort_values([ID_COL, TIME_COL]).groupby(ID_COL)[TARGET_COL]
    return (y.diff(SEASON_LENGTH).abs().groupby(train[ID_COL]).mean()).rename("scale")


def bare_forecasts(train: pd.DataFrame, *, arima: bool) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each bare statsforecast model's forecast (own intervals) and its wall time."""
    models = [SeasonalNaive(season_length=SEASON_LENGTH), Theta(season_length=SEASON_LENGTH),
              AutoETS(season_length=SEASON_LENGTH), AutoCES(season_length=SEASON_LENGTH),
              DynamicOptimizedTheta(season_length=SEASON_LENGTH)]
    if arima:
        models.append(AutoARIMA(season_length=SEASON_LENGTH))
    frames, seconds = [], {}
    for model in models:
        t0 = time.perf_counter()
        fc = StatsForecast(models=[model], freq="MS", n_jobs=-1).forecast(
            df=train, h=H, level=list(LEVELS))
        seconds[repr(model)] = time.perf_counter() - t0
        frames.append(fc.set_index([ID_COL, TIME_COL]))
    out = pd.concat(frames, axis=1).reset_index()
    members = [m for m in COMBO_MEMBERS if m in out.columns]
    for name, how in (("mean", "mean"), ("median", "median")):
        alias = f"{name}({','.join(members)})"
        out[alias] = getattr(out[members], how)(axis=1)
        for level in LEVELS:
            for col in (lo_col, hi_col):
                out[col(alias, level)] = getattr(
                    out[[col(m, level) for m in members]], how)(axis=1)
        seconds[alias] = sum(seconds[m] for m in members)
    return out, seconds


def run_toolkit(overrides: list[str]) -> tuple[pd.DataFrame, float, str, str]:
    """Run the `forecast` job on the M3 file in a fresh directory: its published CSV, wall
    time, command and the summary's first line (what it published and why)."""
    with tempfile.TemporaryDirectory(prefix="bench_accuracy_") as tmp:
        cmd = [str(Path(sys.executable).with_name("forecast")), f"data.path={M3_FILE}",
               "data.format=long", f"as_of={AS_OF}", f"publish.h={H}", "progress=false",
               f"hydra.run.dir={tmp}/run", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
               f"publish.dir={tmp}/pub", *overrides]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"forecast failed ({done.returncode}):\n{done.stderr[-3000:]}")
        csvs = Path(tmp, "pub", AS_OF).glob("forecast_*.csv")
        published = pd.concat(pd.read_csv(p) for p in csvs)
    summary = next((ln for ln in done.stdout.splitlines() if ln.startswith("published: ")), "")
    return published, seconds, " ".join(["forecast", *cmd[1:]]), summary


def toolkit_columns(published: pd.DataFrame) -> pd.DataFrame:
    """The published CSV in the frame the scorer reads (model columns named PUBLISHED)."""
    sid = next(c for c in ("unique_id", "series", "destination") if c in published.columns)
    out = pd.DataFrame({ID_COL: published[sid].astype(str),
                        TIME_COL: pd.to_datetime(published["month"]),
                        PUBLISHED: published["tonnes"]})
    for level in LEVELS:
        out[lo_col(PUBLISHED, level)] = published[f"lo_{level}"].to_numpy()
        out[hi_col(PUBLISHED, level)] = published[f"hi_{level}"].to_numpy()
    return out


def scores(forecasts: pd.DataFrame, test: pd.DataFrame, scale: pd.Series,
           models: list[str]) -> pd.DataFrame:
    """sMAPE, MASE, coverage and MSIS per model: mean over series of the mean over horizons."""
    cells = test.merge(forecasts, on=[ID_COL, TIME_COL], how="left")
    cells = cells.merge(scale, left_on=ID_COL, right_index=True)
    rows = []
    for m in models:
        y, f = cells[TARGET_COL].to_numpy(float), cells[m].to_numpy(float)
        per_cell = pd.DataFrame({ID_COL: cells[ID_COL], "smape": smape(y, f),
                                 "ase": np.abs(y - f) / cells["scale"].to_numpy()})
        for level in LEVELS:
            lo, hi = cells[lo_col(m, level)].to_numpy(float), cells[hi_col(m, level)].to_numpy(
                float)
            per_cell[f"coverage_{level}"] = (y >= lo) & (y <= hi)
            per_cell[f"msis_{level}"] = interval_score(y, lo, hi, level=level) / cells[
                "scale"].to_numpy()
        by_series = per_cell.groupby(ID_COL).mean()
        row = {"model": m, "n_series": by_series.shape[0], "n_cells": int(np.isfinite(f).sum())}
        row |= by_series.mean().rename({"ase": "mase"}).to_dict()
        rows.append(row)
    return pd.DataFrame(rows).sort_values("smape", ignore_index=True)


def markdown(table: pd.DataFrame, seconds: dict[str, float], meta: dict) -> str:
    """The results section of BENCHMARKS.md."""
    lines = [START, f"### M3 monthly accuracy (`benchmarks/bench_accuracy.py`, {meta['when']})",
             "", f"Command: `{meta['bench_command']}`; toolkit job: `{meta['job_command']}`.",
             f"Machine: {meta['machine']}; load average {meta['load_before']} before, "
             f"{meta['load_after']} after. {meta['n_series']} series, {meta['n_cells']} held-out "
             "cells (18 per series); every score is the mean over series of the mean over "
             "horizons.", "", f"The toolkit's own summary line: `{meta['toolkit_summary']}`", "",
             "| model | sMAPE | MASE | coverage 80 | coverage 95 | MSIS 80 | MSIS 95 | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.itertuples():
        lines.append(f"| {r.model} | {r.smape:.2f} | {r.mase:.3f} | {r.coverage_80:.3f} | "
                     f"{r.coverage_95:.3f} | {r.msis_80:.2f} | {r.msis_95:.2f} | "
                     f"{seconds.get(r.model, float('nan')):.0f} |")
    lines += ["", "Toolkit wall time is the whole job (load, backtest, choice, calibration, "
              "publish, MLflow); bare times are one `StatsForecast.forecast` per model (the "
              "combinations: the sum of their members).", END]
    return "\n".join(lines)


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace the marked section of BENCHMARKS.md (append it when absent)."""
    doc = path.read_text()
    if START in doc:
        head, rest = doc.split(START, 1)
        doc = head + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(doc)


def main() -> None:
    """Run both sides, print the table, optionally save JSON and update BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-arima", action="store_true", help="skip bare AutoARIMA (450 s)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("overrides", nargs="*", help="extra forecast overrides")
    args = parser.parse_args()
    load_before = os.getloadavg()
    train, test = load_split(M3_FILE)
    scale = seasonal_scale(train)
    published, job_seconds, job_command, summary = run_toolkit(args.overrides)
    bare, seconds = bare_forecasts(train, arima=not args.no_arima)
    seconds[PUBLISHED] = job_seconds
    forecasts = bare.merge(toolkit_columns(published), on=[ID_COL, TIME_COL], how="outer")
    models = [PUBLISHED, *[c for c in bare.columns
                           if c not in (ID_COL, TIME_COL) and "-lo-" not in c and "-hi-" not in c]]
    table = scores(forecasts, test, scale, models)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "bench_command": " ".join(["benchmarks/bench_accuracy.py", *sys.argv[1:]]),
            "job_command": job_command.replace(str(M3_FILE), "benchmarks/data/m3_monthly.csv.gz"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python "
                       f"{platform.python_version()}",
            "load_before": " ".join(f"{x:.2f}" for x in load_before),
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "n_series": train[ID_COL].nunique(), "n_cells": len(test),
            "toolkit_summary": summary}
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print({k: round(v, 1) for k, v in seconds.items()})
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "seconds": seconds,
                                         "table": table.to_dict(orient="records")}, indent=1))
    if args.write:
        write_section(markdown(table, seconds, meta))


if __name__ == "__main__":
    main()
