"""Shared fixtures: a small synthetic long panel (destinations plus a WORLD total)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from forecasting.schema import (
    DEFAULT_DESTINATIONS,
    ESTIMATED,
    ID_COL,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
)


def build_panel(n_series: int = 3, start: str = "2019-01", months: int = 60, seed: int = 0, *,
                zero_frac: float = 0.0, estimated_frac: float = 0.0) -> pd.DataFrame:
    """Synthetic panel: n_series destinations with seasonal noisy tonnes, plus WORLD = their sum.

    Destinations are DEFAULT_DESTINATIONS first, then S07, S08, ...; `zero_frac` of the cells are
    set to 0 (intermittent shipments); `estimated_frac` of the cells get status "estimated" (WORLD
    is estimated in a month when any destination is). Sorted by unique_id, ds.
    """
    rng = np.random.default_rng(seed)
    ids = [*DEFAULT_DESTINATIONS, *(f"S{i:02d}" for i in range(7, n_series + 1))][:n_series]
    ds = pd.date_range(pd.Timestamp(start), periods=months, freq="MS")
    level = rng.uniform(50, 1000, size=(n_series, 1))
    season = 1 + 0.2 * np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    y = np.round(level * season * rng.lognormal(0, 0.15, size=(n_series, months)), 1)
    y[rng.random(y.shape) < zero_frac] = 0.0
    estimated = rng.random(y.shape) < estimated_frac
    parts = [pd.DataFrame({ID_COL: uid, TIME_COL: ds, TARGET_COL: y[i],
                           STATUS_COL: np.where(estimated[i], ESTIMATED, REPORTED)})
             for i, uid in enumerate(ids)]
    parts.append(pd.DataFrame({ID_COL: WORLD, TIME_COL: ds, TARGET_COL: y.sum(axis=0),
                               STATUS_COL: np.where(estimated.any(axis=0), ESTIMATED, REPORTED)}))
    return pd.concat(parts).sort_values([ID_COL, TIME_COL], ignore_index=True)


@pytest.fixture(name="make_panel")
def make_panel_fixture() -> Callable[..., pd.DataFrame]:
    """Factory fixture: make_panel(n_series=3, start="2019-01", months=60, seed=0, ...)."""
    return build_panel


@pytest.fixture
def panel() -> pd.DataFrame:
    """The default synthetic panel: 3 destinations + WORLD, 60 months from 2019-01."""
    return build_panel()
