"""Our backtest of the default statistical models against bare statsforecast cross_validation.

Same bundled panel, same models (the `stats` forecaster of the composed default config), same
windows (h=3, 12 windows, step 1, levels 80/95). Times (a) `StatsForecast.cross_validation`,
(b) `run_backtest` on the same fixed panel and (c) `run_backtest` with the panel as known at
each cutoff (`history_at=ModelInput.panel_at`, a fresh ModelInput each repeat so the panels are
rebuilt as the job rebuilds them); reports medians, the ratio b/a and the point agreement.

    .venv/bin/python benchmarks/bench_backtest.py [--repeat 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from statsforecast import StatsForecast

from forecasting.backtest.run import run_backtest
from forecasting.backtest.splits import rolling_cutoffs
from forecasting.cli import CONF_DIR
from forecasting.inputs import ModelInput, load_input
from forecasting.models.stats import StatsForecaster
from forecasting.schema import CUTOFF_COL, FREQ, ID_COL, TARGET_COL, TIME_COL

DATA_CFG = {"path": None, "destinations": ["DE", "US", "KR", "JP", "IN", "VN"]}
H, N_WINDOWS, STEP, LEVEL = 3, 12, 1, (80, 95)
TARGET_RATIO = 1.25
VARIANTS = {"bare": "(a) bare StatsForecast.cross_validation",
            "ours": "(b) run_backtest, same fixed panel",
            "ours_as_known": "(c) run_backtest, history_at=panel_at",
            "rebuild": "    of which rebuilding the 12 panels"}


def default_stats_forecaster() -> StatsForecaster:
    """The `stats` forecaster exactly as the default config builds it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config")
    return instantiate(cfg.models.forecasters.stats)


def bare_cv(panel: pd.DataFrame, stats: StatsForecaster) -> pd.DataFrame:
    """statsforecast's own cross_validation over the same windows."""
    sf = StatsForecast(models=stats.models, freq=FREQ, fallback_model=stats.fallback)
    return sf.cross_validation(df=panel[[ID_COL, TIME_COL, TARGET_COL]], h=H, n_windows=N_WINDOWS,
                               step_size=STEP, level=list(LEVEL))


def ours(panel: pd.DataFrame, stats: StatsForecaster,
         history_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None) -> pd.DataFrame:
    """Our rolling-origin backtest over the same cutoffs."""
    cutoffs = rolling_cutoffs(panel, h=H, n_windows=N_WINDOWS, step=STEP)
    return run_backtest(panel, [stats], h=H, cutoffs=cutoffs, level=LEVEL, progress=False,
                        history_at=history_at)


def timed(fn: Callable[..., pd.DataFrame], *args: object, **kwargs: object,
          ) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds of one call, and its result."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, out


def agreement(bare: pd.DataFrame, mine: pd.DataFrame, aliases: list[str]) -> dict:
    """Per model: max |ours - bare| on shared cells, raw and with bare clipped at 0 like ours."""
    keys = [ID_COL, TIME_COL, CUTOFF_COL]
    both = mine[keys + aliases].merge(bare[keys + aliases], on=keys, suffixes=("", "_bare"))
    out = {"cells_ours": len(mine), "cells_bare": len(bare), "cells_shared": len(both)}
    for a in aliases:
        raw = (both[a] - both[f"{a}_bare"]).abs()
        clipped = (both[a] - both[f"{a}_bare"].clip(lower=0.0)).abs()
        out[a] = {"max_abs_diff": float(raw.max()), "cells_differing": int((raw > 1e-6).sum()),
                  "bare_negative": int((both[f"{a}_bare"] < 0).sum()),
                  "max_abs_diff_after_clip": float(clipped.max())}
    return out


class TimedHistory:
    """`ModelInput.panel_at` that adds up the wall and CPU seconds spent rebuilding panels."""

    def __init__(self, data: ModelInput) -> None:
        self.data = data
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __call__(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        """The panel as known at `cutoff`, timed."""
        wall, cpu, panel = timed(self.data.panel_at, cutoff)
        self.seconds += wall
        self.cpu_seconds += cpu
        return panel


def main() -> None:
    """Run the three variants `--repeat` times (interleaved) and print medians and agreement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    stats = default_stats_forecaster()
    panel = load_input(DATA_CFG).panel_at(None)
    warm = timed(bare_cv, panel, stats)[0]  # untimed first call: lazy imports, warm caches
    wall: dict[str, list[float]] = {k: [] for k in VARIANTS}
    cpu: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(args.repeat):
        w, c, bare = timed(bare_cv, panel, stats)
        _add(wall, cpu, "bare", w, c)
        w, c, mine = timed(ours, panel, stats)
        _add(wall, cpu, "ours", w, c)
        data = load_input(DATA_CFG)
        full = data.panel_at(None)
        history = TimedHistory(data)
        w, c, _ = timed(ours, full, stats, history_at=history)
        _add(wall, cpu, "ours_as_known", w, c)
        _add(wall, cpu, "rebuild", history.seconds, history.cpu_seconds)
    load_after = os.getloadavg()

    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio, cpu_ratio = med["ours"] / med["bare"], med_cpu["ours"] / med_cpu["bare"]
    agree = agreement(bare, mine, stats.aliases)
    print(f"panel {panel[ID_COL].nunique()} series x {panel[TIME_COL].nunique()} months; "
          f"h={H}, n_windows={N_WINDOWS}, step={STEP}, level={list(LEVEL)}; models "
          f"{', '.join(stats.aliases)}; {args.repeat} repeats after a {warm:.2f} s warm-up")
    print(f"nproc {os.cpu_count()}, load average before {_load(load_before)}, "
          f"after {_load(load_after)}")
    print(f"{'variant':42} {'wall s':>7} {'CPU s':>7}  wall of each repeat")
    for key, name in VARIANTS.items():
        runs = ", ".join(f"{t:.3f}" for t in wall[key])
        print(f"{name:42} {med[key]:7.3f} {med_cpu[key]:7.3f}  {runs}")
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio (b)/(a): wall {ratio:.3f}, CPU {cpu_ratio:.3f}  "
          f"(target <= {TARGET_RATIO} on wall: {verdict})")
    print(f"extra cost of (c) over (b): wall {med['ours_as_known'] - med['ours']:+.3f} s "
          f"({med['ours_as_known'] / med['ours']:.3f}x), CPU "
          f"{med_cpu['ours_as_known'] - med_cpu['ours']:+.3f} s")
    print(f"point agreement (b) vs (a) on {agree['cells_shared']} shared cells "
          f"(ours {agree['cells_ours']}, bare {agree['cells_bare']}):")
    for a in stats.aliases:
        d = agree[a]
        print(f"  {a:14} max |diff| {d['max_abs_diff']:.3g} t, {d['cells_differing']} cells "
              f"differ, bare < 0 in {d['bare_negative']}, max |diff| after clipping bare at 0 "
              f"{d['max_abs_diff_after_clip']:.3g} t")

    if args.json:
        args.json.write_text(json.dumps({
            "nproc": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": load_after,
            "warmup_s": warm, "wall_s": wall, "cpu_s": cpu, "median_wall_s": med,
            "median_cpu_s": med_cpu, "ratio_wall": ratio, "ratio_cpu": cpu_ratio,
            "target_ratio": TARGET_RATIO, "agreement": agree,
        }, indent=2) + "\n")


def _add(wall: dict[str, list[float]], cpu: dict[str, list[float]], key: str, w: float,
         c: float) -> None:
    wall[key].append(w)
    cpu[key].append(c)


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.2f}" for v in avg)


if __name__ == "__main__":
    main()
