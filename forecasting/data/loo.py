"""Leave-one-out check of the bundled estimates: drop one known month, rebuild, compare.

Run `python -m forecasting.data.loo` to print the per-series table of bundled/README.md: for
every chosen monthly figure (reported or derived) of WORLD and the six destinations, the
panel is rebuilt without it (every source of that month removed; sums kept) with the flat
Denton benchmark (before) and the seasonal one (after), and the estimate of that month is
compared with the figure as an absolute percentage error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.data.bundle import build_panel, seasonal_profile, selected_observations
from forecasting.data.reported import MONTHLY
from forecasting.data.seasonal import ROUNDS
from forecasting.schema import DEFAULT_DESTINATIONS, WORLD

METHODS: dict[str, int] = {"before (flat Denton)": 0, "after (seasonal)": ROUNDS}


def leave_one_out(obs: pd.DataFrame) -> pd.DataFrame:
    """One row per left-out figure: series, month, status, figure and each method's APE (%)."""
    known = obs[obs["chosen"] & (obs["series"] == MONTHLY)
                & obs["destination"].isin((WORLD, *DEFAULT_DESTINATIONS))]
    rows = []
    for _, fig in known.iterrows():
        same = (obs["series"] == MONTHLY) & (obs["destination"] == fig["destination"]) & (
            obs["start"] == fig["start"])
        without = obs.assign(chosen=obs["chosen"] & ~same)
        row = {"series": fig["destination"], "month": fig["start"], "status": fig["status"],
               "figure": fig["tonnes"]}
        for name, rounds in METHODS.items():
            panel = build_panel(without, rounds=rounds).set_index(["destination", "month"])
            estimate = panel["tonnes"].get((fig["destination"], fig["start"]), np.nan)
            row[name] = 100 * abs(estimate - fig["tonnes"]) / fig["tonnes"]
        rows.append(row)
    return pd.DataFrame(rows)


def summary(errors: pd.DataFrame) -> pd.DataFrame:
    """Figures and mean APE per method, per series (WORLD first) and over all figures."""
    names = list(METHODS)
    order = [WORLD, *DEFAULT_DESTINATIONS]
    table = errors.groupby("series")[names].agg("mean").reindex(order).dropna(how="all")
    table.insert(0, "figures", errors.groupby("series").size().reindex(table.index))
    table.loc["all"] = [len(errors), *errors[names].mean()]
    return table.astype({"figures": int}).round(1)


def markdown(table: pd.DataFrame) -> str:
    """The summary as the README's markdown table (MAPE in %)."""
    names = list(METHODS)
    lines = ["| series | figures | " + " | ".join(f"MAPE {n} %" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for series, row in table.iterrows():
        lines.append(f"| {series} | {int(row['figures'])} | "
                     + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    return "\n".join(lines)


def main() -> None:
    """Print the seasonal factors and the leave-one-out table of the bundled sources."""
    obs = selected_observations()
    factors = seasonal_profile(obs)
    print("seasonal factors:", " ".join(f"{m:02d}:{f:.2f}" for m, f in factors.items()))
    print(markdown(summary(leave_one_out(obs))))


if __name__ == "__main__":
    main()
