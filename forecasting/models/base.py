"""The forecaster contract every model family implements, and the output frame it returns."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from forecasting.schema import LEVELS, hi_col, lo_col


@runtime_checkable
class Forecaster(Protocol):
    """A model family: forecasts `h` months after `as_of` from a panel truncated at `as_of`.

    `forecast` returns one row per (unique_id, ds) with a point column per alias and the
    interval columns `{alias}-lo-{level}` / `{alias}-hi-{level}` for every level, clipped at 0.
    """

    aliases: list[str]

    def forecast(self, panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp,
                 scenario: object | None = None, level: tuple[int, ...] = LEVELS,
                 ) -> pd.DataFrame: ...


def clip_forecasts(fcst: pd.DataFrame, aliases: list[str], level: tuple[int, ...]) -> pd.DataFrame:
    """Clip points and intervals at 0 and keep lo <= point <= hi (tonnes cannot be negative)."""
    out = fcst.copy()
    for alias in aliases:
        out[alias] = out[alias].clip(lower=0.0)
        for lv in level:
            lo, hi = lo_col(alias, lv), hi_col(alias, lv)
            if lo in out:
                out[lo] = np.minimum(out[lo].clip(lower=0.0), out[alias])
                out[hi] = np.maximum(out[hi].clip(lower=0.0), out[alias])
    return out
