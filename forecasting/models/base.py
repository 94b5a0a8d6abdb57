"""The forecaster contract every model family implements, and the output frame it returns."""

from __future__ import annotations

from collections.abc import Sequence
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


def clip_forecasts(fcst: pd.DataFrame, aliases: Sequence[str],
                   level: Sequence[int]) -> pd.DataFrame:
    """Make every alias's forecast a valid one: tonnes >= 0, lo <= point <= hi, and each wider
    interval around the narrower one (lo_95 <= lo_80, hi_80 <= hi_95). NaN stays NaN.

    The one place interval order is enforced: models, calibration, ensembles and
    reconciliation all end here.
    """
    out = fcst.copy()
    for alias in aliases:
        out[alias] = out[alias].clip(lower=0.0)
        inner_lo, inner_hi = out[alias], out[alias]
        for lv in sorted(level):
            lo, hi = lo_col(alias, lv), hi_col(alias, lv)
            if lo in out:  # a missing bound stays missing, it is not replaced by the point
                out[lo] = np.fmin(out[lo].clip(lower=0.0), inner_lo).mask(out[lo].isna())
                out[hi] = np.fmax(out[hi].clip(lower=0.0), inner_hi).mask(out[hi].isna())
                inner_lo, inner_hi = np.fmin(inner_lo, out[lo]), np.fmax(inner_hi, out[hi])
    return out
