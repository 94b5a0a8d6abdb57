"""Write synthetic_intermittent_panel.csv: a SYNTHETIC panel for the routing study.

Six smooth seasonal destinations and four small intermittent ones (months of zero between
irregular shipments), 96 months. Every cell is status=estimated with source "synthetic", so
nothing here can pass for a reported figure. Run: python make_synthetic_panel.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SMOOTH = {"DE": 1200.0, "US": 600.0, "KR": 700.0, "JP": 250.0, "IN": 400.0, "VN": 600.0}
INTERMITTENT = {"TH": (0.30, 40.0), "IT": (0.45, 60.0), "MX": (0.25, 25.0), "PL": (0.35, 30.0)}


def main(seed: int = 11, months: int = 96) -> Path:
    """Generate the panel (fixed seed) and write it beside this script."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2018-01-01", periods=months, freq="MS")
    season = 1 + 0.2 * np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    rows = []
    for dest, level in SMOOTH.items():
        y = level * season * rng.lognormal(0, 0.12, months)
        rows.append(pd.DataFrame({"destination": dest, "month": ds.strftime("%Y-%m"), "tonnes": y}))
    for dest, (p, size) in INTERMITTENT.items():
        y = np.where(rng.random(months) < p, rng.gamma(2.0, size / 2.0, months), 0.0)
        rows.append(pd.DataFrame({"destination": dest, "month": ds.strftime("%Y-%m"), "tonnes": y}))
    panel = pd.concat(rows, ignore_index=True)
    panel["tonnes"] = panel["tonnes"].round(1)
    panel["status"] = "estimated"
    panel["source"] = f"synthetic: make_synthetic_panel.py seed {seed}"
    path = Path(__file__).with_name("synthetic_intermittent_panel.csv")
    panel.to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    print(main())
