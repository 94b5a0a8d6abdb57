"""Resolve the `data` config into the modelling panel as known at any month."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from forecasting.data.bundle import bundled_panel_at, bundled_panel_path, fill_gaps
from forecasting.data.cells import MAX_VALUE, Limits
from forecasting.data.hierarchy import (
    HIERARCHIES,
    SeriesSummary,
    as_given,
    folded,
    to_model_panel,
    with_history,
)
from forecasting.data.load import FORMATS, detect_format, load_panel, products_of
from forecasting.data.partners import DESTINATION_IDS
from forecasting.data.products import MIN_MONTHLY, SEP, by_product, per_product, split_ids
from forecasting.data.store import (
    DEFAULT_PRODUCT,
    FIRST_COL,
    VINTAGES,
    ProductFigures,
    VintagedFigures,
    default_store_path,
    open_figures,
)
from forecasting.data.synthetic import FORMAT as SYNTHETIC
from forecasting.data.synthetic import from_config as synthetic_from_config
from forecasting.features.base import to_month
from forecasting.schema import (
    ESTIMATED,
    FREQ,
    ID_COL,
    OTHER,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
)

ALL = "all"  # data.destinations=all: every partner with at least data.min_history reported months
MAGNET_FORMATS: tuple[str, ...] = ("bundled", "plain", "customs", "comtrade")
STORE = "store"  # data=store: the vintaged figure store (forecasting/data/store.py)


@dataclass
class ModelInput:
    """Where the data came from, and the modelling panel as it was known at a given month.

    Estimated cells depend on every figure known when they were estimated (an interpolation
    leans on the next reported month), so the panel seen at a backtest cutoff is rebuilt from
    the figures up to that cutoff, never cut out of the latest panel.

    `hierarchy="world"` keeps `destinations` (None: every partner with at least
    `min_history` reported months, chosen on the figures known at the input's last month),
    folds the other partners into OTHER and adds WORLD; `"none"` models every series as given.

    With a figure store (`store`), a month also needs its figure's vintage on or before the
    month's knowledge date (store.knowledge_date), so a revision published after a cutoff
    does not reach it; without `as_of` the latest month sees every vintage. `vintage`
    (first|latest) chooses the figures the backtest scores against (`actuals`).

    `products` names what the figures measure; with more than one, every id is keyed
    `<product>/<id>` (data.products) and the hierarchy is built per product: each product's
    partners add up to its own WORLD, and every product runs on to the same last month.
    """

    source: str
    format: str
    destinations: tuple[str, ...] | None
    raw: pd.DataFrame | None = None
    limit: pd.Timestamp | None = None
    hierarchy: str = "world"
    min_history: int = 24
    store: VintagedFigures | ProductFigures | None = None
    vintage: str = "latest"
    products: tuple[str, ...] = ()
    _cache: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict, repr=False)
    _chosen: tuple[str, ...] | None = field(default=None, repr=False)
    _summary: SeriesSummary | None = field(default=None, repr=False)

    @property
    def last_month(self) -> pd.Timestamp:
        """The latest month with a figure."""
        return self.panel_at(None)[TIME_COL].max()

    def panel_at(self, as_of: pd.Timestamp | str | None) -> pd.DataFrame:
        """The modelling panel built only from figures for months up to `as_of` (None: all)."""
        key = self._key(as_of)
        if key not in self._cache:
            self._cache[key] = self._build(key)
        return self._cache[key]

    def prebuild(self, months: Sequence[pd.Timestamp], *, n_jobs: int) -> None:
        """Build the panels as known at `months` in `n_jobs` processes and keep them, so the
        backtest's fold processes and the caller's later steps reuse them (same panels as
        `panel_at` builds one by one)."""
        keys = [k for k in dict.fromkeys(self._key(m) for m in months) if k not in self._cache]
        if n_jobs > 1 and len(keys) > 1:
            built = Parallel(n_jobs=n_jobs)(delayed(self._build)(k) for k in keys)
            self._cache.update(zip(keys, built, strict=True))
        for key in keys:
            self.panel_at(key)

    def _key(self, as_of: pd.Timestamp | str | None) -> pd.Timestamp | None:
        """The cache key of `panel_at(as_of)`: the month, capped at the input's limit."""
        key = self.limit if as_of is None else to_month(as_of)
        return min(key, self.limit) if self.limit is not None and key is not None else key

    def truncated(self, as_of: str | pd.Timestamp) -> ModelInput:
        """The same input with every figure after `as_of` ignored (the `as_of=` override).

        An `as_of` after the last month of the data or before its first is refused: the run
        would be published under another month than the one asked for.
        """
        raw = self._raw_at(self.limit)
        month, first, last = to_month(as_of), raw[TIME_COL].min(), raw[TIME_COL].max()
        if not first <= month <= last:
            side = "after" if month > last else "before"
            raise InputError("config", f"as_of={month:%Y-%m} is {side} the data of {self.source} "
                             f"({first:%Y-%m} to {last:%Y-%m}); set as_of within them or drop "
                             "it", column="as_of")
        return ModelInput(source=self.source, format=self.format,
                          destinations=self.destinations, raw=self.raw, limit=month,
                          hierarchy=self.hierarchy, min_history=self.min_history,
                          store=self.store, vintage=self.vintage, products=self.products)

    def check_scored(self, statuses: tuple[str, ...], *, score_on: str) -> None:
        """InputError when no figure of a loaded file has a status the backtest scores (an
        all-estimated file under backtest.score_on=reported_derived): nothing could be scored,
        chosen or calibrated. Call with SCORE_ON[score_on] before anything is written."""
        if self.raw is None:
            return
        status = self._raw_at(self.limit)[STATUS_COL]  # the figures up to as_of
        if status.isin(statuses).any():
            return
        counts = ", ".join(f"{n} {s}" for s, n in status.value_counts().items())
        raise InputError(self.source, f"no figure is {' or '.join(statuses)} ({counts}), so "
                         f"backtest.score_on={score_on} scores nothing: mark the figures you "
                         "have as reported, or pass backtest.score_on=all to score estimated "
                         "cells", column=STATUS_COL)

    @property
    def several(self) -> bool:
        """Whether the panel holds several products (ids keyed `<product>/<id>`)."""
        return len(self.products) > 1

    @property
    def chosen(self) -> tuple[str, ...]:
        """The destinations modelled separately under hierarchy world (`all` resolved; with
        several products, each product's own, keyed)."""
        if self._chosen is None:
            raw = self._raw_at(self.limit)
            self._chosen = (
                self.destinations if self.destinations is not None
                else tuple(keyed_id for product, rows in by_product(raw)
                           for keyed_id in _keyed(product, with_history(
                               rows, min_history=self.min_history)))
                if self.several else with_history(raw, min_history=self.min_history))
        return self._chosen

    def _chosen_of(self, product: str) -> tuple[str, ...]:
        """The destinations of one product of several (plain ids)."""
        if self.destinations is not None:
            return self.destinations
        return tuple(uid.partition(SEP)[2] for uid in self.chosen
                     if uid.startswith(product + SEP))

    def _folded(self) -> tuple[str, ...]:
        """The partners summed into OTHER (keyed with several products)."""
        raw = self._raw_at(self.limit)
        if not self.several:
            return folded(raw, self.chosen)
        return tuple(keyed_id for product, rows in by_product(raw)
                     for keyed_id in _keyed(product, folded(rows, self._chosen_of(product))))

    @property
    def summary(self) -> SeriesSummary:
        """Series modelled (at the input's last month) and partners folded into OTHER."""
        if self._summary is None:
            modelled = tuple(sorted(self.panel_at(None)[ID_COL].unique(),
                                    key=lambda u: (u in (WORLD, OTHER), u)))
            self._summary = SeriesSummary(modelled=modelled, folded=(
                () if self.hierarchy == "none" else self._folded()))
        return self._summary

    def figures(self) -> pd.DataFrame:
        """The loaded figures up to the input's last month, before any gap is estimated."""
        return self._raw_at(self.limit)

    def actuals(self) -> pd.DataFrame:
        """The panel the backtest scores against: the latest figures, or with a store and
        `vintage="first"` each month's first published figure (estimates filled as usual)."""
        if self.store is None or self.vintage == "latest":
            return self.panel_at(self.last_month)
        return self._model_panel(self.store.known_at(self.limit, first=True), self.limit)

    def _raw_at(self, as_of: pd.Timestamp | None) -> pd.DataFrame:
        """The loaded figures for months up to `as_of` (None: all)."""
        if self.store is not None:
            everything = as_of is None or (self.limit is None
                                           and as_of >= self.store.last_month)
            return self.store.known_at(None if everything else as_of)
        if self.raw is None:
            raw = bundled_panel_at(as_of)
        else:
            raw = self.raw if as_of is None else self.raw.loc[self.raw[TIME_COL] <= as_of]
        if raw.empty:
            raise InputError(self.source, f"no figures on or before {as_of:%Y-%m}")
        return raw

    def _build(self, as_of: pd.Timestamp | None) -> pd.DataFrame:
        return self._model_panel(self._raw_at(as_of), as_of)

    def _model_panel(self, raw: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
        """The modelling panel (hierarchy, months padded to `as_of`, gaps estimated) of `raw`."""
        negative = raw[TARGET_COL] < 0
        if negative.any():
            row = raw.loc[negative].iloc[0]
            raise InputError(self.source, f"series {row[ID_COL]!r} has y={row[TARGET_COL]:g} in "
                             f"{row[TIME_COL]:%Y-%m}: the models need y >= 0 in the history "
                             "they fit on (set as_of before it, or drop the series)",
                             column=TARGET_COL)
        if self.several:  # per product, each run on to the same last month
            end = raw[TIME_COL].max() if as_of is None else as_of
            panel = per_product(raw, lambda product, rows: _extend_to(
                self._hierarchy_panel(rows, self._chosen_of(product)), end))
        else:
            panel = self._hierarchy_panel(raw, self.chosen)
        if as_of is not None:
            panel = _extend_to(panel, as_of)
        return _fill(panel)

    def _hierarchy_panel(self, raw: pd.DataFrame, chosen: tuple[str, ...]) -> pd.DataFrame:
        """`raw` as given (hierarchy none) or with OTHER and WORLD built (hierarchy world)."""
        if self.hierarchy == "none":
            return as_given(raw)
        return to_model_panel(raw, destinations=chosen,
                              absent_is_zero=self.format in ("customs", "comtrade"))


def _keyed(product: str, ids: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(product + SEP + uid for uid in ids)


def _fill(panel: pd.DataFrame) -> pd.DataFrame:
    """fill_gaps on the series with a missing month only (it loops over series; M3 has 1,428)."""
    ids, ds = panel[ID_COL], panel[TIME_COL]
    month = ds.dt.year * 12 + ds.dt.month
    by_id = month.groupby(ids)
    span = by_id.transform("max") - by_id.transform("min") + 1
    gappy = (span != by_id.transform("size")) | panel[TARGET_COL].isna().groupby(ids).transform(
        "any")
    if not gappy.any():
        return panel
    filled = fill_gaps(panel.loc[gappy])
    return pd.concat([panel.loc[~gappy], filled], ignore_index=True).sort_values(
        [ID_COL, TIME_COL], ignore_index=True)


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


def _setting(value: object, allowed: tuple[str, ...], *, name: str) -> str:
    """A string setting checked against `allowed`, or an InputError naming the setting."""
    if value not in allowed:
        raise InputError("config", f"{name}={value!r} is not one of {', '.join(allowed)}",
                         column=name)
    return str(value)


def _destinations(value: object) -> tuple[str, ...] | None:
    """`data.destinations` as a tuple of ids, or None for `all`."""
    if isinstance(value, str):
        _setting(value, (ALL,), name="data.destinations")
        return None
    ids = tuple(str(v) for v in value)
    if not ids:
        raise InputError("config", "data.destinations is empty; list ids or write all",
                         column="data.destinations")
    return ids


def _hierarchy(value: object, fmt: str, *, magnets: bool | None = None) -> str:
    """`data.hierarchy`, with `auto` resolved: world for the magnet formats (for a store:
    the magnets product), none for long."""
    value = _setting(value, ("auto", *HIERARCHIES), name="data.hierarchy")
    if value == "auto":
        return "world" if (fmt in MAGNET_FORMATS if magnets is None else magnets) else "none"
    return value


def _store_input(data_cfg: Mapping, *, destinations: tuple[str, ...] | None,
                 min_history: int) -> ModelInput:
    """data=store: the figures of `data.products` (default: `data.product` alone) in the
    store `data.store` (default ./magnets.db, created and seeded with the bundled figures on
    first use). Several products: ids keyed `<product>/<id>`, hierarchy auto = world."""
    path = Path(data_cfg.get("store") or default_store_path())
    products = _products(data_cfg)
    vintage = _setting(data_cfg.get("vintage", "latest"), VINTAGES, name="data.vintage")
    setting = "data.products" if len(products) > 1 else "data.product"
    parts = [_forecastable(open_figures(path, product, setting=setting), setting)
             for product in products]
    store = parts[0] if len(parts) == 1 else ProductFigures(parts=tuple(parts), source=str(path))
    return ModelInput(source=str(path), format=STORE, destinations=destinations,
                      hierarchy=_hierarchy(data_cfg.get("hierarchy", "auto"), STORE,
                                           magnets=products == (DEFAULT_PRODUCT,)
                                           or len(products) > 1),
                      min_history=min_history, store=store, vintage=vintage, products=products)


def _products(data_cfg: Mapping) -> tuple[str, ...]:
    """`data.products` (a list of distinct names), else `data.product` alone."""
    value = data_cfg.get("products") or [data_cfg.get("product") or DEFAULT_PRODUCT]
    products = tuple(str(p) for p in value)
    if len(set(products)) != len(products):
        raise InputError("config", f"data.products={list(products)} lists a product twice",
                         column="data.products")
    return products


def _chosen_products(raw: pd.DataFrame | None, found: tuple[str, ...], wanted: object, *,
                     source: str) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """The rows of the products `wanted` (data.products; None: every product `found` in the
    file's product column) and their names; ids stay keyed only with several products."""
    if not wanted:
        return raw, found
    wanted = tuple(str(p) for p in wanted)
    missing = [p for p in wanted if p not in found]
    if missing:
        raise InputError(source, f"data.products lists {missing[0]!r}, which is not a product of "
                         f"the data ({', '.join(found) or 'no product column'})",
                         column="data.products")
    if raw is None or len(found) == 1:
        return raw, wanted
    product, plain = split_ids(raw[ID_COL])
    rows = raw.loc[product.isin(wanted).to_numpy()]
    if len(wanted) == 1:
        rows = rows.assign(**{ID_COL: plain.loc[rows.index]})
    return rows.reset_index(drop=True), wanted


def _forecastable(figures: VintagedFigures, setting: str) -> VintagedFigures:
    """`figures`, or an InputError naming the product and `setting` when it has fewer
    than MIN_MONTHLY monthly figures (a headline-only line with a few sums cannot be
    forecast)."""
    rows = figures.figures
    months = rows.loc[rows[FIRST_COL] == rows[TIME_COL], TIME_COL].nunique()
    if months < MIN_MONTHLY:
        raise InputError(figures.source, f"product {figures.product!r} has {months} monthly "
                         f"figure(s) in the store, fewer than the {MIN_MONTHLY} needed to "
                         f"forecast it; drop it from {setting} (or ingest its monthly "
                         f"figures with forecast-ingest --product {figures.product})",
                         column=setting)
    return figures


def load_input(data_cfg: Mapping) -> ModelInput:
    """Read `data.path` (the bundled data when null) into a ModelInput."""
    destinations = _destinations(data_cfg["destinations"])
    min_history = data_cfg.get("min_history", 24)
    if not isinstance(min_history, int) or min_history < 1:
        raise InputError("config", f"data.min_history={min_history!r} must be a whole number of "
                         "months >= 1", column="data.min_history")
    if data_cfg.get("format") == STORE:
        return _store_input(data_cfg, destinations=destinations, min_history=min_history)
    path = data_cfg.get("path")
    if data_cfg.get("format") == SYNTHETIC:  # data=synthetic: a seeded panel, labelled as such
        path, raw = synthetic_from_config(data_cfg)
        fmt = SYNTHETIC
    elif path is None:
        fmt, raw = "bundled", None
    else:
        if not Path(path).is_file():
            raise InputError(path, "no such file (data.path)")
        fmt = data_cfg.get("format", "auto")
        if fmt not in FORMATS:
            raise InputError(path, f"data.format={fmt!r} is not one of {', '.join(FORMATS)}")
        fmt = detect_format(path) if fmt == "auto" else fmt
        limits = Limits(max_value=data_cfg.get("max_value", MAX_VALUE),
                        min_month=data_cfg.get("min_month", "auto"))
        raw = load_panel(path, format=fmt, month=data_cfg.get("month"), limits=limits)
    found = (DEFAULT_PRODUCT,) if fmt == "bundled" else products_of(path) if fmt == "long" else ()
    raw, products = _chosen_products(raw, found, data_cfg.get("products"), source=str(path))
    data = ModelInput(source=str(path or bundled_panel_path()), format=fmt,
                      destinations=destinations, raw=raw, products=products,
                      hierarchy=_hierarchy(data_cfg.get("hierarchy", "auto"), fmt),
                      min_history=min_history)
    _check_destinations(data)
    return data


def _check_destinations(data: ModelInput) -> None:
    """Under hierarchy world, refuse a listed destination that is no ISO-2 code (magnet
    formats), one whose case differs from a series of the data (de for DE), or a list none of
    which is in the data: each would be folded into OTHER without a word. A valid code absent
    from the file (the default list on a small file) is allowed."""
    if data.hierarchy != "world" or data.destinations is None:
        return
    ids = (data.raw[ID_COL] if data.raw is not None  # the bundled panel.csv, without building it
           else pd.read_csv(bundled_panel_path(), usecols=["destination"])["destination"])
    if data.several:  # the partners of every product
        ids = split_ids(ids)[1]
    ids = sorted(set(ids) - {WORLD, OTHER})
    shown = ", ".join(ids[:12]) + (", ..." if len(ids) > 12 else "")
    for dest in data.destinations:
        hint = next((i for i in ids if i.upper() == dest.upper() and i != dest), None)
        if hint or (data.format in MAGNET_FORMATS and dest not in DESTINATION_IDS):
            raise InputError("config", f"data.destinations lists {dest!r}, which is not "
                             + (f"a series of {data.source}; did you mean {hint}?" if hint else
                                "an ISO 3166-1 alpha-2 code (DE, US, ...)"),
                             column="data.destinations")
    if not set(data.destinations) & set(ids):
        raise InputError("config", f"data.destinations={list(data.destinations)} names no series "
                         f"of {data.source} ({shown}): only WORLD and OTHER would be modelled",
                         column="data.destinations")
