"""A seeded SYNTHETIC monthly panel for scale runs: seasons, trend, policy shifts, intermittency.

Every series id starts with `SYN-` and the source names the generator and its seed, so
synthetic figures cannot pass for customs data anywhere they go (run tags, manifest, CSVs).
Cells are status `reported` so the backtest scores them as it scores real data.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecasting.data.policy_calendar import load_policy_events
from forecasting.schema import FREQ, ID_COL, REPORTED, STATUS_COL, TARGET_COL, TIME_COL

PREFIX = "SYN-"
FORMAT = "synthetic"
SHIFT_PROBABILITY = 0.3  # chance that a series moves at a given policy date
SHIFT_MEAN = {"tighten": -0.3, "ease": 0.2, "neutral": 0.0}  # log level shift by direction


def source_label(n_series: int, n_months: int, seed: int, end: str) -> str:
    """The panel's source as it appears in run tags and the manifest."""
    return f"SYNTHETIC panel (forecasting.data.synthetic: n_series={n_series}, " \
           f"n_months={n_months}, seed={seed}, end={end})"


def policy_shifts(months: pd.DatetimeIndex) -> list[tuple[int, float]]:
    """(month index, mean log shift) of each magnet policy event effective inside `months`."""
    events = load_policy_events()
    events = events[events["magnets"].isin(["yes", "partial"])]
    effective = events["effective"].dt.to_period("M").dt.to_timestamp()
    out = []
    for month, direction in zip(effective, events["direction"], strict=True):
        if months[0] < month <= months[-1]:
            out.append((int(months.get_loc(month)), SHIFT_MEAN[direction]))
    return out


def synthetic_panel(*, n_series: int, n_months: int = 96, seed: int = 0,
                    intermittent_share: float = 0.2, end: str = "2025-12") -> pd.DataFrame:
    """`n_series` x `n_months` panel (unique_id, ds, y, status) ending in month `end`.

    Smooth series: a lognormal level (tonnes from about 1 to 10,000), a trend of up to about
    +/-1% a month, a seasonal profile of random amplitude and phase, multiplicative noise, and
    level shifts from each magnet policy date on (downwards on a tightening, upwards on an
    easing) for a random 30% of series per date. Intermittent series (`intermittent_share`):
    small shipments in 20-70% of months, zero otherwise. The same arguments give the same panel.
    """
    rng = np.random.default_rng(seed)
    months = pd.date_range(end=pd.Timestamp(end), periods=n_months, freq=FREQ)
    t = np.arange(n_months)
    level = np.exp(rng.normal(5.0, 1.5, n_series))[:, None]
    trend = rng.normal(0.0, 0.004, n_series)[:, None] * t
    amplitude = rng.uniform(0.0, 0.35, n_series)[:, None]
    phase = rng.uniform(0.0, 12.0, n_series)[:, None]
    season = amplitude * np.sin(2 * np.pi * (t + phase) / 12)
    noise = rng.normal(0.0, 1.0, (n_series, n_months)) * rng.uniform(0.03, 0.2, n_series)[:, None]
    log_y = np.log(level) + trend + season + noise
    for index, mean in policy_shifts(months):
        moves = rng.random(n_series) < SHIFT_PROBABILITY
        log_y[moves, index:] += rng.normal(mean, 0.15, int(moves.sum()))[:, None]
    y = np.exp(log_y)
    sparse = rng.random(n_series) < intermittent_share
    occurs = rng.random((n_series, n_months)) < rng.uniform(0.2, 0.7, n_series)[:, None]
    sizes = np.exp(rng.normal(1.0, 0.6, (n_series, n_months)))
    y[sparse] = np.where(occurs[sparse], sizes[sparse], 0.0)
    width = len(str(n_series))
    ids = [f"{PREFIX}{i:0{width}d}" for i in range(1, n_series + 1)]
    return pd.DataFrame({
        ID_COL: np.repeat(ids, n_months), TIME_COL: np.tile(months, n_series),
        TARGET_COL: np.round(y, 1).ravel(), STATUS_COL: REPORTED})


def from_config(data_cfg: Mapping) -> tuple[str, pd.DataFrame]:
    """The source label and panel of `data=synthetic` (data.n_series, n_months, seed, ...)."""
    args = {"n_series": int(data_cfg["n_series"]), "n_months": int(data_cfg["n_months"]),
            "seed": int(data_cfg["seed"]), "end": str(data_cfg.get("end", "2025-12"))}
    panel = synthetic_panel(**args, intermittent_share=float(
        data_cfg.get("intermittent_share", 0.2)))
    return source_label(**args), panel
