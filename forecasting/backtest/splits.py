"""Rolling-origin cutoffs for an expanding-window backtest."""

from __future__ import annotations

import pandas as pd

from forecasting.schema import FREQ, TIME_COL


def rolling_cutoffs(panel: pd.DataFrame, *, h: int, n_windows: int, step: int = 1,
                    min_train: int = 24) -> list[pd.Timestamp]:
    """The `n_windows` cutoffs, `step` months apart, the last one `h` months before the end.

    A fold at cutoff c trains on months <= c and forecasts c+1 .. c+h, so every fold's
    targets lie inside the panel. Raises ValueError when the panel is too short.
    """
    if h < 1 or n_windows < 1 or step < 1:
        raise ValueError(f"backtest needs h, n_windows and step >= 1, got {h}, {n_windows}, {step}")
    months = pd.date_range(panel[TIME_COL].min(), panel[TIME_COL].max(), freq=FREQ)
    last = len(months) - 1 - h
    first = last - (n_windows - 1) * step
    if first < min_train - 1:
        raise ValueError(
            f"panel of {len(months)} months is too short for backtest.h={h}, "
            f"n_windows={n_windows}, step={step} with at least {min_train} training months"
        )
    return [months[i] for i in range(first, last + 1, step)]
