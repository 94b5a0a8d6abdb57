"""Time and size the default `forecast` job as a user runs it, plus the cost of importing it.

Each run starts `.venv/bin/forecast` in a fresh temporary working directory (run dir, MLflow
SQLite store and publish dir all inside it) from a fresh Python child that reports the wall
time and `getrusage(RUSAGE_CHILDREN)`: peak RSS of the job process and its CPU time.

    .venv/bin/python benchmarks/bench_job.py [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / ".venv" / "bin"
TARGET_WALL_S, TARGET_RSS_GIB = 60.0, 2.0
KIB_PER_GIB = 1024 ** 2

# Runs argv, then prints wall seconds, peak RSS (KiB on Linux) and CPU seconds of the child.
_MEASURE = """
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    t0 = time.perf_counter()
    rc = subprocess.run(sys.argv[3:], stdout=out, stderr=err).returncode
    wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss_kib": ru.ru_maxrss,
                  "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def measure(argv: list[str], *, cwd: Path, log_dir: Path) -> dict:
    """Run `argv` from a fresh Python child in `cwd`; wall, peak RSS and CPU of the process."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(log_dir / "stdout.txt"),
                          str(log_dir / "stderr.txt"), *argv],
                         cwd=cwd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        tail = (log_dir / "stderr.txt").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{argv[0]} exited with {result['rc']}:\n{tail}")
    return result


def run_job_once(extra: list[str]) -> dict:
    """One default job in a fresh temporary directory; its measurements."""
    with tempfile.TemporaryDirectory(prefix="bench-job-") as tmp:
        tmp_path = Path(tmp)
        argv = [str(BIN / "forecast"), f"hydra.run.dir={tmp_path / 'run'}",
                f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                f"publish.dir={tmp_path / 'pub'}", *extra]
        return measure(argv, cwd=tmp_path, log_dir=tmp_path)


def time_import(repeat: int) -> dict:
    """Wall seconds of `python -c "import forecasting.job"` and of a bare interpreter start."""
    py = str(BIN / "python")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp_path = Path(tmp)
        job = [measure([py, "-c", "import forecasting.job"], cwd=tmp_path, log_dir=tmp_path)
               for _ in range(repeat)]
        bare = [measure([py, "-c", "pass"], cwd=tmp_path, log_dir=tmp_path)
                for _ in range(repeat)]
    return {"import_s": [r["wall_s"] for r in job], "python_start_s": [r["wall_s"] for r in bare],
            "import_maxrss_kib": max(r["maxrss_kib"] for r in job)}


def summary(values: list[float]) -> dict:
    """Min, median and max of a list of measurements."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> None:
    """Run the benchmark and print the table (and write JSON when asked)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="job runs (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for the job")
    args = parser.parse_args()

    load_before = os.getloadavg()
    imports = time_import(args.repeat)
    runs = []
    for i in range(args.repeat):
        runs.append(run_job_once(args.overrides))
        print(f"run {i + 1}/{args.repeat}: {runs[-1]['wall_s']:.1f} s wall, "
              f"{runs[-1]['maxrss_kib'] / KIB_PER_GIB:.3f} GiB peak RSS", flush=True)
    load_after = os.getloadavg()

    wall = summary([r["wall_s"] for r in runs])
    cpu = summary([r["cpu_s"] for r in runs])
    peak_kib = max(r["maxrss_kib"] for r in runs)
    imp, start = summary(imports["import_s"]), summary(imports["python_start_s"])
    rows = [
        ("job wall time (s)", wall, f"< {TARGET_WALL_S:.0f} s", wall["median"] < TARGET_WALL_S),
        ("job CPU time, user+sys (s)", cpu, "", None),
        ("import forecasting.job (s)", imp, "", None),
        ("bare python start (s)", start, "", None),
    ]
    print(f"\nnproc {os.cpu_count()}, load average before {_load(load_before)}, "
          f"after {_load(load_after)}, {args.repeat} runs")
    print(f"{'measure':30} {'min':>8} {'median':>8} {'max':>8}  target")
    for name, s, target, met in rows:
        verdict = "" if met is None else (" met" if met else " NOT met")
        print(f"{name:30} {s['min']:8.2f} {s['median']:8.2f} {s['max']:8.2f}  {target}{verdict}")
    rss_met = peak_kib / KIB_PER_GIB < TARGET_RSS_GIB
    print(f"{'job peak RSS':30} {peak_kib:,} KiB = {peak_kib / KIB_PER_GIB:.3f} GiB (max of runs)"
          f"  < {TARGET_RSS_GIB:.0f} GiB {'met' if rss_met else 'NOT met'}")
    print(f"{'import peak RSS':30} {imports['import_maxrss_kib']:,} KiB")

    if args.json:
        args.json.write_text(json.dumps({
            "nproc": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": load_after,
            "runs": runs, "wall_s": wall, "cpu_s": cpu, "peak_rss_kib": peak_kib,
            "imports": imports, "targets": {"wall_s": TARGET_WALL_S, "rss_gib": TARGET_RSS_GIB},
        }, indent=2) + "\n")


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in avg)


if __name__ == "__main__":
    main()
