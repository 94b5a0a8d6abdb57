"""Scale: the whole job by panel size, and our statistical backtest against bare statsforecast.

For each panel (`--sizes`: SYNTHETIC panels of N series x 96 months, `data=synthetic`;
`--m3`: the 1,428 M3 monthly series) and each `--part`:

- `job`: the whole `forecast` job (default suite unless overridden, `backtest.n_windows`
  windows, plots, publish and MLflow on) in a fresh temporary directory, run from a fresh
  Python child: wall, CPU (the job and its worker processes), peak RSS (the largest single
  process), the time per stage from cProfile (cumulative seconds of the job's stage
  functions; `--no-profile` runs without it), the MLflow logging share, what the MLflow store
  holds afterwards (metric rows, params, database size) and the PNGs drawn.
- `engines`: our statistical backtest + final forecast (as in `compare`) on engine=local, then
  on engine=dask (a LocalCluster of `--workers` processes; its start-up timed apart).
- `compare`: the default config's statsforecast forecasters (`stats` and `intermittent`) in
  this process, (a) bare `StatsForecast.cross_validation` over the same windows plus the final
  `forecast` (same models, fallback, levels, conformal windows and worker count), and (b) our
  `run_backtest` (panel as known at each cutoff) plus the final `forecast_all`; ratio b/a.

    .venv/bin/python benchmarks/bench_scale.py --sizes 100 1000 [--m3] [--windows 3]
        [--part job compare] [--no-profile] [--json PATH] [hydra overrides for the job...]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from bench_backtest import agreement
from bench_job import measure
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from statsforecast import StatsForecast
from statsforecast.utils import ConformalIntervals

from forecasting.backtest.run import forecast_all, run_backtest
from forecasting.backtest.splits import rolling_cutoffs
from forecasting.cli import CONF_DIR
from forecasting.engine import engine_session
from forecasting.inputs import load_input
from forecasting.models.stats import StatsForecaster, workers
from forecasting.schema import FREQ, ID_COL, TARGET_COL, TIME_COL

REPO = Path(__file__).resolve().parents[1]
M3 = REPO / "benchmarks" / "data" / "m3_monthly.csv.gz"
M3_SERIES = 1428
TARGET_RATIO = 1.25
KIB_PER_GIB = 1024 ** 2
# stage -> (module path suffix, function names): cumulative cProfile seconds, summed
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "run_job (whole job after imports)": ("forecasting/job.py", ("run_job",)),
    "load + panels as known at cutoffs": ("forecasting/inputs.py", ("load_input", "_build")),
    "backtest, all models (run_backtest)": ("forecasting/backtest/run.py", ("run_backtest",)),
    "  statsforecast models (backtest+final)": ("forecasting/models/stats.py", ("forecast",)),
    "  mlforecast HGB (backtest+final)": ("forecasting/models/ml.py", ("forecast",)),
    "  PooledHGB (backtest+final)": ("forecasting/models/pooled.py", ("forecast",)),
    "  combinations (Hybrid)": ("forecasting/models/combination.py", ("combine",)),
    "demand classes (routing)": ("forecasting/models/routing.py", ("classify_series",)),
    "choice (champion, ensemble)": ("forecasting/backtest/selection.py", (
        "choice_at_cutoffs", "add_champion_and_ensemble", "final_choice", "apply_choice")),
    "calibration": ("forecasting/backtest/calibration.py", ("calibrate_backtest",)),
    "scores + leaderboard": ("forecasting/job.py", ("score_backtest",)),
    "features.csv (build_features)": ("forecasting/features/pipeline.py", ("build_features",)),
    "final forecasts (incl. refits)": ("forecasting/job.py", ("final_forecasts",)),
    "reconcile": ("forecasting/reconcile.py", ("reconcile",)),
    "CSV writes (incl. MLflow upload)": ("forecasting/job.py", ("_write_csv",)),
    "publish (CSV, manifest, plot, log)": ("forecasting/job.py", ("publish_month",)),
    "plots": ("forecasting/plots.py", (
        "plot_backtest", "plot_mase_by_horizon", "plot_fan", "plot_scenarios")),
    "MLflow logging": ("forecasting/tracking.py", (
        "job_run", "log_panel", "log_model_runs", "log_summary", "log_artifact",
        "log_metrics", "set_tag")),
    "MLflow store check": ("forecasting/tracking_store.py", ("prepare_store",)),
}
MLFLOW_STAGES = ("MLflow logging", "MLflow store check")


def m3_first(n: int) -> Path:
    """A long file of the first `n` M3 monthly series (file order), written once to tmp."""
    path = Path(tempfile.gettempdir()) / f"m3_monthly_first{n}.csv.gz"
    if not path.exists():
        m3 = pd.read_csv(M3)
        keep = m3[ID_COL].drop_duplicates().iloc[:n]
        m3[m3[ID_COL].isin(keep)].to_csv(path, index=False)
    return path


def data_overrides(size: int | str) -> list[str]:
    """Hydra overrides selecting a panel: a SYNTHETIC size, `m3` or `m3:N` (its first N)."""
    if str(size).startswith("m3"):
        n = str(size).partition(":")[2]
        return [f"data.path={m3_first(int(n)) if n else M3}", "data.format=long"]
    return ["data=synthetic", f"data.n_series={size}", "data.n_months=96", "data.seed=0"]


def stage_times(profile: Path) -> dict[str, float]:
    """Cumulative seconds of each stage's functions in a cProfile dump."""
    raw = pstats.Stats(str(profile)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    out = {}
    for stage, (suffix, names) in STAGES.items():
        out[stage] = sum(v[3] for (file, _, name), v in raw.items()
                         if file.endswith(suffix) and name in names)
    return out


def store_contents(db: Path, run_dir: Path) -> dict[str, float]:
    """Rows in the MLflow SQLite store, its size, and the artifacts and PNGs written."""
    with sqlite3.connect(db) as con:
        count = {t: con.execute(f"select count(*) from {t}").fetchone()[0]  # noqa: S608
                 for t in ("runs", "metrics", "latest_metrics", "params", "tags")}
    artifacts = db.parent / "mlruns"
    return {**{f"mlflow_{k}": v for k, v in count.items()},
            "mlflow_db_mib": db.stat().st_size / 2**20,
            "mlflow_artifacts_mib": sum(p.stat().st_size for p in artifacts.rglob("*")
                                        if p.is_file()) / 2**20 if artifacts.is_dir() else 0.0,
            "png_files": len(list(run_dir.rglob("*.png"))) + len(list(
                (db.parent / "pub").rglob("*.png")))}


def run_job(size: int | str, *, windows: int, profile: bool, extra: list[str]) -> dict:
    """One whole job on the panel, in a fresh temporary directory; its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        tmp_path = Path(tmp)
        prof = tmp_path / "job.prof"
        head = [sys.executable, *(["-m", "cProfile", "-o", str(prof)] if profile else []),
                "-m", "forecasting.cli"]
        argv = [*head, *data_overrides(size), f"backtest.n_windows={windows}", "progress=false",
                f"hydra.run.dir={tmp_path / 'run'}",
                f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                f"publish.dir={tmp_path / 'pub'}", *extra]
        load_before = os.getloadavg()
        result = measure(argv, cwd=tmp_path, log_dir=tmp_path)
        result |= {"loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                   "argv": " ".join(argv[len(head):]), "profiled": profile,
                   "summary": (tmp_path / "stdout.txt").read_text().splitlines()[0]}
        result |= store_contents(tmp_path / "mlflow.db", tmp_path / "run")
        result["n_series"] = size if isinstance(size, int) else int(
            str(size).partition(":")[2] or M3_SERIES)
        if profile:
            result["stages_s"] = stages = stage_times(prof)
            run = stages["run_job (whole job after imports)"]
            result["mlflow_share"] = sum(stages[k] for k in MLFLOW_STAGES) / run if run else None
        return result


def timed(fn: Callable[[], pd.DataFrame]) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds (this process and its finished children) of one call."""
    def cpu() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    t0, c0 = time.perf_counter(), cpu()
    out = fn()
    return time.perf_counter() - t0, cpu() - c0, out


def _bare_models(f: StatsForecaster, h: int) -> tuple[list[object], object | None]:
    """`f`'s models and fallback with the conformal windows it gives them at horizon `h`."""
    return f.fresh_models(ConformalIntervals(h=h, n_windows=f.conformal_windows)
                          if f.conformal_windows else None)


def bare(f: StatsForecaster, panel: pd.DataFrame, *, h: int, windows: int, final_h: int,
         level: list[int]) -> pd.DataFrame:
    """statsforecast alone: cross_validation over the windows, then the final forecast (the
    same models, conformal windows, fallback and worker count as `f`)."""
    n_jobs = workers(f.n_jobs, panel[ID_COL].nunique())
    models, fallback = _bare_models(f, h)
    cv = StatsForecast(models=models, freq=FREQ, fallback_model=fallback,
                       n_jobs=n_jobs).cross_validation(df=panel, h=h, n_windows=windows,
                                                       step_size=1, level=level)
    models, fallback = _bare_models(f, final_h)
    StatsForecast(models=models, freq=FREQ, fallback_model=fallback,
                  n_jobs=n_jobs).forecast(df=panel, h=final_h, level=level)
    return cv


def stats_setup(size: int | str, *, windows: int) -> tuple[dict, Callable[[], pd.DataFrame]]:
    """The default config's statsforecast forecasters on the panel, and our backtest of them
    (panels as known at each cutoff, then the final forecast) as a function to time."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[*data_overrides(size),
                                           f"backtest.n_windows={windows}"])
    forecasters = [instantiate(cfg.models.forecasters[k]) for k in ("stats", "intermittent")]
    h, final_h, level = cfg.backtest.h, cfg.publish.h, list(cfg.backtest.level)
    data = load_input(cfg.data)
    panel = data.panel_at(None)
    cutoffs = rolling_cutoffs(panel, h=h, n_windows=windows, step=1,
                              min_train=cfg.backtest.min_train)

    def ours() -> pd.DataFrame:
        fresh = data.truncated(panel[TIME_COL].max())  # same figures, no cached panels
        bt = run_backtest(panel, forecasters, h=h, cutoffs=cutoffs, level=tuple(level),
                          progress=False, history_at=fresh.panel_at)
        forecast_all(forecasters, panel, h=final_h, as_of=panel[TIME_COL].max(),
                     level=tuple(level))
        return bt

    setup = {"forecasters": forecasters, "h": h, "final_h": final_h, "level": level,
             "df": panel[[ID_COL, TIME_COL, TARGET_COL]]}
    return setup, ours


def compare(size: int | str, *, windows: int) -> dict:
    """Bare statsforecast vs our backtest + final forecast on one panel (stats models only)."""
    setup, ours = stats_setup(size, windows=windows)
    forecasters, df = setup["forecasters"], setup["df"]
    h, final_h, level = setup["h"], setup["final_h"], setup["level"]
    small = df[df[ID_COL].isin(df[ID_COL].unique()[:4])]
    for f in forecasters:  # untimed warm-up: first calls, imports
        bare(f, small, h=h, windows=windows, final_h=final_h, level=level)
    load_before = os.getloadavg()
    runs = {"bare": [timed(lambda f=f: bare(f, df, h=h, windows=windows, final_h=final_h,
                                            level=level)) for f in forecasters]}
    runs["ours"] = [timed(ours)]
    wall = {k: sum(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: sum(r[1] for r in v) for k, v in runs.items()}
    bare_cv = runs["bare"][0][2].reset_index()
    aliases = forecasters[0].model_aliases
    return {"n_series": int(df[ID_COL].nunique()), "rows": len(df), "h": h, "windows": windows,
            "final_h": final_h, "models": [a for f in forecasters for a in f.aliases],
            "n_jobs": [workers(f.n_jobs, df[ID_COL].nunique()) for f in forecasters],
            "wall_s": wall, "cpu_s": cpu, "ratio_wall": wall["ours"] / wall["bare"],
            "ratio_cpu": cpu["ours"] / cpu["bare"], "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "agreement": agreement(bare_cv, runs["ours"][0][2], aliases)}


def engines(size: int | str, *, windows: int, n_workers: int) -> dict:
    """Our statistical backtest + final forecast on engine=local, then on engine=dask
    (a LocalCluster of `n_workers` processes; its start-up timed apart)."""
    setup, ours = stats_setup(size, windows=windows)
    load_before = os.getloadavg()
    local = timed(ours)
    t0 = time.perf_counter()
    with engine_session({"name": "dask", "n_workers": n_workers, "processes": True}):
        start = time.perf_counter() - t0
        dask = timed(ours)
    gap = agreement(local[2], dask[2], setup["forecasters"][0].model_aliases)
    return {"n_series": int(setup["df"][ID_COL].nunique()), "n_workers": n_workers,
            "wall_s": {"local": local[0], "dask": dask[0], "cluster_start": start},
            "cpu_s_this_process": {"local": local[1], "dask": dask[1]},
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "agreement": gap}


def report(results: dict) -> None:
    """Print the job table (with time per series between sizes) and the comparison."""
    jobs = {k: v["job"] for k, v in results.items() if "job" in v}
    previous = None
    for size, r in jobs.items():
        n = r["n_series"]
        per = r["wall_s"] / n
        step = "" if previous is None else f", x{per / previous:.2f} per series vs previous"
        print(f"\n== job, {size} series: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, "
              f"peak RSS {r['maxrss_kib'] / KIB_PER_GIB:.2f} GiB, {per * 1000:.1f} ms/series"
              f"{step}; load {_load(r['loadavg_before'])} -> {_load(r['loadavg_after'])}")
        print(f"   {r['argv']}")
        print(f"   {r['summary']}")
        print(f"   MLflow store: {r['mlflow_runs']} runs, {r['mlflow_metrics']} metric rows, "
              f"{r['mlflow_params']} params, db {r['mlflow_db_mib']:.1f} MiB, artifacts "
              f"{r['mlflow_artifacts_mib']:.1f} MiB; {r['png_files']} PNG files")
        if "stages_s" in r:
            for stage, seconds in r["stages_s"].items():
                print(f"   {stage:42} {seconds:8.1f} s")
            print(f"   MLflow share of run_job: {r['mlflow_share']:.1%}")
        if not str(size).startswith("m3"):
            previous = per
    for size, v in results.items():
        e = v.get("engines")
        if e is not None:
            w = e["wall_s"]
            print(f"\n== engines, {size}: {e['n_series']} series, our stats backtest + final: "
                  f"local {w['local']:.1f} s, dask ({e['n_workers']} worker processes) "
                  f"{w['dask']:.1f} s (+ {w['cluster_start']:.1f} s cluster start); load "
                  f"{_load(e['loadavg_before'])} -> {_load(e['loadavg_after'])}")
    for size, v in results.items():
        c = v.get("compare")
        if c is None:
            continue
        verdict = "met" if c["ratio_wall"] <= TARGET_RATIO else "NOT met"
        print(f"\n== compare, {size}: {c['n_series']} series, h={c['h']}, {c['windows']} "
              f"windows + final h={c['final_h']}, n_jobs {c['n_jobs']}; load "
              f"{_load(c['loadavg_before'])} -> {_load(c['loadavg_after'])}")
        print(f"   bare {c['wall_s']['bare']:.1f} s wall ({c['cpu_s']['bare']:.1f} s CPU), ours "
              f"{c['wall_s']['ours']:.1f} s ({c['cpu_s']['ours']:.1f} s CPU): ratio wall "
              f"{c['ratio_wall']:.3f}, CPU {c['ratio_cpu']:.3f} (target <= {TARGET_RATIO}: "
              f"{verdict})")
        a = c["agreement"]
        diffs = {k: v["max_abs_diff_after_clip"] for k, v in a.items() if isinstance(v, dict)}
        print(f"   {a['cells_shared']} shared cells (ours {a['cells_ours']}, bare "
              f"{a['cells_bare']}); max |ours - bare clipped at 0|: {diffs}")


def main() -> None:
    """Run the parts on every panel asked for; print and optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=[100, 1000],
                        help="SYNTHETIC sizes, or m3 / m3:N (the first N M3 series)")
    parser.add_argument("--m3", action="store_true", help="also the M3 monthly panel")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="dask workers (engines)")
    parser.add_argument("--part", nargs="+", choices=("job", "compare", "engines"),
                        default=["job", "compare"])
    parser.add_argument("--no-profile", action="store_true", help="job without cProfile")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the job")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(REPO)  # the job imports this checkout's forecasting

    results: dict[str, dict] = {}
    sizes = [int(x) if str(x).isdigit() else x for x in args.sizes]
    for size in [*sizes, *(["m3"] if args.m3 else [])]:
        out = results.setdefault(str(size), {})
        if "job" in args.part:
            out["job"] = run_job(size, windows=args.windows, profile=not args.no_profile,
                                 extra=args.overrides)
        if "compare" in args.part:
            out["compare"] = compare(size, windows=args.windows)
        if "engines" in args.part:
            out["engines"] = engines(size, windows=args.windows, n_workers=args.workers)
        print(f"done {size} at {time.strftime('%H:%M:%S')}", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"nproc": os.cpu_count(), "results": results},
                                            indent=2, default=str) + "\n")
    report(results)


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in avg)


if __name__ == "__main__":
    main()
