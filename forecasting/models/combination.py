"""Combination forecasts: the median or mean of member models' points and interval bounds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.models.base import clip_forecasts
from forecasting.models.routing import model_columns
from forecasting.schema import LEVELS

METHODS: dict[str, object] = {"median": np.nanmedian, "mean": np.nanmean}


def check_combinations(combinations: Mapping[str, Mapping], aliases: Sequence[str]) -> None:
    """Raise ValueError unless every combination has a known method and members among `aliases`."""
    for alias, spec in combinations.items():
        method, members = spec.get("method", "median"), list(spec.get("members", []))
        if method not in METHODS:
            raise ValueError(f"combination {alias!r}: method must be one of {sorted(METHODS)}, "
                             f"got {method!r}")
        unknown = [m for m in members if m not in aliases]
        if len(members) < 2 or unknown:
            extra = f", unknown: {unknown}" if unknown else ""
            raise ValueError(f"combination {alias!r} needs two or more members among "
                             f"{list(aliases)}{extra}")
        if alias in aliases:
            raise ValueError(f"combination alias {alias!r} is also a model alias")


def combine(fcst: pd.DataFrame, members: Sequence[str], *, alias: str, method: str = "median",
            level: Sequence[int] = LEVELS) -> pd.DataFrame:
    """Add model `alias`: per row, the `method` of the members' point and of each bound.

    Combining each bound separately (as the point) gives the usual combined intervals; members
    missing a value are skipped, a row with no member value stays NaN. The result is clipped
    and nested like any model's (`clip_forecasts`).
    """
    reduce = METHODS[method]
    out = fcst.copy()
    by_member = [model_columns(m, level) for m in members]
    for i, column in enumerate(model_columns(alias, level)):
        member_cols = [cols[i] for cols in by_member]
        values = out[member_cols].to_numpy(float)
        combined = np.full(len(out), np.nan)
        known = ~np.isnan(values).all(axis=1)
        combined[known] = reduce(values[known], axis=1)
        out[column] = combined
    return clip_forecasts(out, [alias], level)


def add_combinations(fcst: pd.DataFrame, combinations: Mapping[str, Mapping], *,
                     level: Sequence[int] = LEVELS) -> pd.DataFrame:
    """`combine` every {alias: {members: [...], method: median|mean}} into `fcst`."""
    for alias, spec in combinations.items():
        fcst = combine(fcst, list(spec["members"]), alias=alias,
                       method=spec.get("method", "median"), level=level)
    return fcst


class CombinedForecaster:
    """A combination across forecasters (e.g. statistical models and a global ML model).

    It fits nothing: the backtest and the final forecast run every other forecaster first,
    then `combine` adds the `method` of the members' columns as model `alias`.
    """

    def __init__(self, members: Sequence[str], *, alias: str, method: str = "mean") -> None:
        self.members = list(members)
        self.alias = alias
        self.method = method

    @property
    def aliases(self) -> list[str]:
        """The output column of the combination."""
        return [self.alias]

    def combine(self, fcst: pd.DataFrame, *, level: Sequence[int] = LEVELS) -> pd.DataFrame:
        """`fcst` with the combination's columns added."""
        return combine(fcst, self.members, alias=self.alias, method=self.method, level=level)
