"""Resolve the `data` config into the modelling panel as known at any month."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.data.bundle import bundled_panel_at, bundled_panel_path, fill_gaps
from forecasting.data.hierarchy import to_model_panel
from forecasting.data.load import detect_format, load_panel
from forecasting.features.base import to_month
from forecasting.schema import (
    ESTIMATED,
    FREQ,
    ID_COL,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    InputError,
)


@dataclass
class ModelInput:
    """Where the data came from, and the modelling panel as it was known at a given month.

    Estimated cells depend on every figure known when they were estimated (an interpolation
    leans on the next reported month), so the panel seen at a backtest cutoff is rebuilt from
    the figures up to that cutoff, never cut out of the latest panel.
    """

    source: str
    format: str
    destinations: tuple[str, ...]
    raw: pd.DataFrame | None = None
    limit: pd.Timestamp | None = None
    _cache: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def last_month(self) -> pd.Timestamp:
        """The latest month with a figure."""
        return self.panel_at(None)[TIME_COL].max()

    def panel_at(self, as_of: pd.Timestamp | str | None) -> pd.DataFrame:
        """The modelling panel built only from figures for months up to `as_of` (None: all)."""
        key = self.limit if as_of is None else to_month(as_of)
        if self.limit is not None:
            key = min(key, self.limit)
        if key not in self._cache:
            self._cache[key] = self._build(key)
        return self._cache[key]

    def truncated(self, as_of: str | pd.Timestamp) -> ModelInput:
        """The same input with every figure after `as_of` ignored (the `as_of=` override).

        An `as_of` after the last month of the data changes nothing (no empty months added).
        """
        end = self.panel_at(None)[TIME_COL].max()
        return ModelInput(source=self.source, format=self.format,
                          destinations=self.destinations, raw=self.raw,
                          limit=min(to_month(as_of), end))

    def _build(self, as_of: pd.Timestamp | None) -> pd.DataFrame:
        if self.raw is None:
            raw = bundled_panel_at(as_of)
        else:
            raw = self.raw if as_of is None else self.raw.loc[self.raw[TIME_COL] <= as_of]
        if raw.empty:
            raise InputError(self.source, f"no figures on or before {as_of:%Y-%m}")
        panel = to_model_panel(raw, destinations=self.destinations,
                               absent_is_zero=self.format in ("customs", "comtrade"))
        if as_of is not None:
            panel = _extend_to(panel, as_of)
        return fill_gaps(panel)


def _extend_to(panel: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Add not-yet-reported months up to `as_of` (NaN, to be estimated and flagged).

    At a cutoff the latest figures may still be unpublished (WORLD for February 2025 came
    only as a year-to-date sum); every model then forecasts from the same month, the cutoff.
    """
    last = panel[TIME_COL].max()
    if last >= as_of:
        return panel
    months = pd.date_range(last + pd.offsets.MonthBegin(1), as_of, freq=FREQ)
    ids = panel[ID_COL].unique()
    pad = pd.DataFrame({ID_COL: np.repeat(ids, len(months)), TIME_COL: np.tile(months, len(ids)),
                        TARGET_COL: np.nan, STATUS_COL: ESTIMATED})
    return pd.concat([panel, pad], ignore_index=True).sort_values([ID_COL, TIME_COL],
                                                                  ignore_index=True)


def load_input(data_cfg: Mapping) -> ModelInput:
    """Read `data.path` (the bundled data when null) into a ModelInput."""
    destinations = tuple(data_cfg["destinations"])
    path = data_cfg.get("path")
    if path is None:
        return ModelInput(source=str(bundled_panel_path()), format="bundled",
                          destinations=destinations)
    if not Path(path).is_file():
        raise InputError(path, "no such file (data.path)")
    fmt = data_cfg.get("format", "auto")
    if fmt not in ("auto", "plain", "customs", "comtrade"):
        raise InputError(path, f"data.format={fmt!r} is not one of auto, plain, customs, comtrade")
    fmt = detect_format(path) if fmt == "auto" else fmt
    raw = load_panel(path, format=fmt, month=data_cfg.get("month"))
    return ModelInput(source=str(path), format=fmt, destinations=destinations, raw=raw)
