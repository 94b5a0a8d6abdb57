"""Leave-one-out table and WORLD-by-status figure of the bundled README, reproducibly.

Prints the seasonal factors and the leave-one-out MAPE table (`forecasting.data.loo`) and
writes forecasting/data/bundled/world_status.png: WORLD 2016-2025 with reported months as
dots, derived months as open circles and estimated months dashed, next to the twelve seasonal
factors the estimated months carry.

    .venv/bin/python benchmarks/bench_bundle_loo.py [--no-loo]
"""

from __future__ import annotations

import argparse

from matplotlib.dates import YearLocator
from matplotlib.figure import Figure

from forecasting.data.bundle import (
    BUNDLED_DIR,
    load_bundled_panel,
    seasonal_profile,
    selected_observations,
)
from forecasting.data.loo import leave_one_out, markdown, summary
from forecasting.plots import draw_history
from forecasting.schema import ID_COL, WORLD

FIGURE = BUNDLED_DIR / "world_status.png"


def figure() -> Figure:
    """WORLD by status (left) and the seasonal factors of the estimated months (right)."""
    obs = selected_observations()
    panel = load_bundled_panel()
    fig = Figure(figsize=(11, 3.6), dpi=100, layout="constrained")
    ax, bars = fig.subplots(1, 2, width_ratios=[3.2, 1])
    draw_history(ax, panel.loc[panel[ID_COL] == WORLD], label=True)
    ax.xaxis.set_major_locator(YearLocator())
    ax.set_title("WORLD magnet exports, t/month", loc="left", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3)
    factors = seasonal_profile(obs)
    bars.bar(factors.index, factors.to_numpy(), color="0.6")
    bars.axhline(1.0, color="black", lw=0.8)
    bars.set_xticks(factors.index, list("JFMAMJJASOND"))
    bars.set_ylim(0.7, 1.15)
    bars.set_title("seasonal factors", loc="left", fontsize="medium")
    return fig


def main() -> None:
    """Write the figure; print the factors and (unless --no-loo) the leave-one-out table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-loo", action="store_true", help="only write the figure")
    args = parser.parse_args()
    figure().savefig(FIGURE, format="png")
    print(f"wrote {FIGURE}")
    if not args.no_loo:
        print(markdown(summary(leave_one_out(selected_observations()))))


if __name__ == "__main__":
    main()
