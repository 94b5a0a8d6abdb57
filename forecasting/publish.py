"""Monthly publication: one forecast CSV per scenario plus manifest.json, validated and atomic.

Layout: `<out_dir>/<as_of>/forecast_<scenario>.csv`, `history.csv` (the history the forecast
was fitted on, when given) and `<out_dir>/<as_of>/manifest.json`.
The CSV schema and manifest fields are described in docs/publish_schema.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.atomic import write_dir_atomic
from forecasting.data.products import PRODUCT_COL, SEP, by_product, split_ids
from forecasting.reconcile import FORECAST_COL, interval_columns
from forecasting.schema import (
    ID_COL,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
    month_start,
)

PUBLIC_COLUMNS: tuple[str, ...] = (
    "as_of", "scenario", "destination", "month", "horizon", "kind", "model",
    "tonnes", "lo_80", "hi_80", "lo_95", "hi_95",
)
# With several products (ids keyed <product>/<id>), a `product` column before `destination`;
# with one product there is none, so a one-product file is unchanged.
PRODUCT_PUBLIC_COLUMNS: tuple[str, ...] = (*PUBLIC_COLUMNS[:2], PRODUCT_COL, *PUBLIC_COLUMNS[2:])
# Bounds in the order they must nest: lo_95 <= lo_80 <= tonnes <= hi_80 <= hi_95.
PUBLIC_BOUNDS: tuple[str, ...] = ("lo_95", "lo_80", "tonnes", "hi_80", "hi_95")
_LO95, _LO80, _HI80, _HI95 = interval_columns()
INTERNAL_BOUNDS: tuple[str, ...] = (_LO95, _LO80, FORECAST_COL, _HI80, _HI95)
MODEL_COL = "model"
KIND_COL = "kind"
KINDS: tuple[str, ...] = ("forecast", "nowcast")  # nowcast: split to a known total (nowcast.py)
MANIFEST_NAME = "manifest.json"
HISTORY_NAME = "history.csv"
HISTORY_COLUMNS: tuple[str, ...] = ("destination", "month", "tonnes", "status")
PRODUCT_HISTORY_COLUMNS: tuple[str, ...] = (PRODUCT_COL, *HISTORY_COLUMNS)
COHERENCE_TOL = 1e-6
_AS_OF_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_LABEL_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-preliminary)?$")
_SCENARIO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PublishExistsError(FileExistsError):
    """A publication for this as_of already exists and overwrite was not requested."""


@dataclass(frozen=True)
class PublishResult:
    """Where a publication was written and the manifest that describes it."""

    directory: Path
    csv_paths: dict[str, Path]
    manifest_path: Path
    manifest: dict
    history_path: Path | None = None


def csv_name(scenario: str) -> str:
    """File name of the published CSV of `scenario`."""
    return f"forecast_{scenario}.csv"


def _horizon(ds: pd.Series, as_of: str) -> np.ndarray:
    """Months from as_of ('YYYY-MM') to each month of `ds` (1 = the month after as_of)."""
    start = pd.Timestamp(as_of)
    return ((ds.dt.year - start.year) * 12 + ds.dt.month - start.month).to_numpy(dtype="int64")


def _check_values(df: pd.DataFrame, bounds: tuple[str, ...], *, source: object) -> None:
    """Raise InputError on NaN, a negative lower bound or bounds not nesting around the point."""
    for col in bounds:
        nan = df[col].isna().to_numpy()
        if nan.any():
            raise InputError(source, "value is NaN", row=int(nan.argmax()), column=col)
    lowest = df[bounds[0]].to_numpy()
    if (lowest < 0).any():
        i = int((lowest < 0).argmax())
        raise InputError(source, f"negative lower bound {lowest[i]}", row=i, column=bounds[0])
    for lower, upper in zip(bounds[:-1], bounds[1:], strict=True):
        bad = (df[lower].to_numpy() > df[upper].to_numpy())
        if bad.any():
            i = int(bad.argmax())
            raise InputError(source, f"{lower} {df[lower].iloc[i]} > {upper} {df[upper].iloc[i]}",
                             row=i, column=lower)


def _check_coherent(df: pd.DataFrame, *, source: object, several: bool = False) -> None:
    """Raise InputError unless, every month, the non-WORLD series sum to WORLD within 1e-6 t
    (`several`: within each product; a product of WORLD alone is coherent)."""
    if several:
        for product, rows in by_product(df):
            if set(rows[ID_COL]) != {WORLD}:
                _check_coherent(rows, source=f"{source}, product {product!r}")
        return
    is_world = df[ID_COL] == WORLD
    if not is_world.any():
        raise InputError(source, f"no '{WORLD}' rows: the total is required", column=ID_COL)
    world = df.loc[is_world].set_index(TIME_COL)[FORECAST_COL]
    bottom = df.loc[~is_world].groupby(TIME_COL)[FORECAST_COL].sum()
    both = pd.concat({"world": world, "bottom": bottom}, axis=1)
    gap = (both["world"] - both["bottom"]).abs()
    bad = gap.isna() | (gap > COHERENCE_TOL)
    if bad.any():
        month = both.index[bad.to_numpy().argmax()]
        raise InputError(source, f"not coherent in {month:%Y-%m}: destinations sum to "
                         f"{both.loc[month, 'bottom']} but {WORLD} is {both.loc[month, 'world']} "
                         "(run forecasting.reconcile.reconcile first)", column=FORECAST_COL)


def validate_forecast(df: pd.DataFrame, *, as_of: str, source: object = "<forecast>",
                      coherent: bool = True, several: bool = False) -> None:
    """Check an internal forecast frame is publishable; raise InputError naming row and column.

    `coherent=False` (hierarchy none): no WORLD total is required or checked. `several`: ids
    keyed `<product>/<id>`, coherence checked per product.
    """
    needed = [ID_COL, TIME_COL, MODEL_COL, *INTERNAL_BOUNDS]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(source, f"forecast frame lacks column(s) {missing}", column=missing[0])
    if df.empty:
        raise InputError(source, "forecast frame is empty")
    df = df.reset_index(drop=True)
    for col in (ID_COL, TIME_COL, MODEL_COL):
        nan = df[col].isna().to_numpy()
        if nan.any():
            raise InputError(source, "value is missing", row=int(nan.argmax()), column=col)
    _check_values(df, INTERNAL_BOUNDS, source=source)
    ds = pd.to_datetime(df[TIME_COL])
    not_start = (ds != month_start(ds)).to_numpy()
    if not_start.any():
        i = int(not_start.argmax())
        raise InputError(source, f"ds {ds.iloc[i]} is not a month start", row=i, column=TIME_COL)
    horizon = _horizon(ds, as_of)
    if (horizon < 1).any():
        i = int((horizon < 1).argmax())
        raise InputError(source, f"month {ds.iloc[i]:%Y-%m} is not after as_of {as_of}", row=i,
                         column=TIME_COL)
    dup = df.duplicated([ID_COL, TIME_COL]).to_numpy()
    if dup.any():
        raise InputError(source, "duplicate destination-month", row=int(dup.argmax()),
                         column=TIME_COL)
    if coherent:
        _check_coherent(df.assign(**{TIME_COL: ds}), source=source, several=several)


def to_public(df: pd.DataFrame, *, as_of: str, scenario: str,
              several: bool = False) -> pd.DataFrame:
    """Internal forecast frame -> public columns, rounded to 0.1 t, sorted by destination, month
    (`several`: ids keyed `<product>/<id>` -> a product column; sorted by product first)."""
    ds = pd.to_datetime(df[TIME_COL])
    out = pd.DataFrame({
        "as_of": as_of,
        "scenario": scenario,
        "destination": df[ID_COL].astype(str).to_numpy(),
        "month": ds.dt.strftime("%Y-%m").to_numpy(),
        "horizon": _horizon(ds, as_of),
        "kind": (df[KIND_COL].astype(str).to_numpy() if KIND_COL in df.columns
                 else KINDS[0]),
        "model": df[MODEL_COL].astype(str).to_numpy(),
    })
    for public, internal in zip(PUBLIC_BOUNDS, INTERNAL_BOUNDS, strict=True):
        out[public] = np.round(df[internal].to_numpy(dtype=float), 1) + 0.0  # + 0.0: no "-0.0"
    return _by_product(out, several=several, columns=PRODUCT_PUBLIC_COLUMNS if several
                       else PUBLIC_COLUMNS)


def _by_product(out: pd.DataFrame, *, several: bool, columns: tuple[str, ...]) -> pd.DataFrame:
    """A public frame sorted by destination and month, or with `several` the keyed
    destination split into product and destination and sorted by product first."""
    keys = ["destination", "month"]
    if several:
        product, plain = split_ids(out["destination"])
        out = out.assign(**{PRODUCT_COL: product.to_numpy(), "destination": plain.to_numpy()})
        keys = [PRODUCT_COL, *keys]
    return out.sort_values(keys, ignore_index=True).loc[:, list(columns)]


def _csv_bytes(public: pd.DataFrame) -> bytes:
    """Deterministic CSV bytes: UTF-8, '\\n' line endings, no index, '%.1f' numbers."""
    buf = io.StringIO()
    public.to_csv(buf, index=False, float_format="%.1f", lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def refuse_republish(out_dir: str | Path, *, as_of: str, overwrite: bool) -> Path:
    """The publication directory of `as_of`; PublishExistsError if it already holds one."""
    directory = Path(out_dir) / as_of
    existing = _existing(directory)
    if existing and not overwrite:
        raise PublishExistsError(
            f"{directory} already holds a publication for as_of {as_of} "
            f"({', '.join(p.name for p in existing)}); refusing to overwrite it. "
            "Pass publish.overwrite=true to replace it.")
    return directory


def _existing(directory: Path) -> list[Path]:
    """Published files already in `directory` (manifest and forecast CSVs)."""
    if not directory.is_dir():
        return []
    found = sorted([*directory.glob(csv_name("*")), *directory.glob(HISTORY_NAME)])
    manifest = directory / MANIFEST_NAME
    return [manifest, *found] if manifest.exists() else found


def history_public(panel: pd.DataFrame, *, several: bool = False) -> pd.DataFrame:
    """The modelling panel as published history: [product,] destination, month, tonnes,
    status (`several`: ids keyed `<product>/<id>` -> a product column)."""
    out = pd.DataFrame({
        "destination": panel[ID_COL].astype(str).to_numpy(),
        "month": pd.to_datetime(panel[TIME_COL]).dt.strftime("%Y-%m").to_numpy(),
        "tonnes": panel[TARGET_COL].to_numpy(dtype=float),
        "status": panel[STATUS_COL].astype(str).to_numpy(),
    })
    return _by_product(out, several=several,
                       columns=PRODUCT_HISTORY_COLUMNS if several else HISTORY_COLUMNS)


def keyed_destinations(public: pd.DataFrame) -> pd.DataFrame:
    """A published frame read back with its `product` column (several products) folded into
    `destination` as the keyed id `<product>/<destination>`; unchanged without one."""
    if PRODUCT_COL not in public.columns:
        return public
    return public.assign(destination=public[PRODUCT_COL] + SEP + public["destination"]).drop(
        columns=PRODUCT_COL)


def read_history(path: str | Path) -> pd.DataFrame:
    """Read a published history.csv back ([product,] destination, month, tonnes, status);
    InputError if bad."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if tuple(raw.columns) not in (HISTORY_COLUMNS, PRODUCT_HISTORY_COLUMNS):
        raise InputError(path, f"columns are {list(raw.columns)}, expected {list(HISTORY_COLUMNS)}"
                         f" (with several products: {list(PRODUCT_HISTORY_COLUMNS)})")
    out = raw.assign(tonnes=pd.to_numeric(raw["tonnes"], errors="coerce"))
    bad = out["tonnes"].isna().to_numpy() | ~raw["status"].isin(STATUSES).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        column = "tonnes" if pd.isna(out["tonnes"].iloc[i]) else "status"
        raise InputError(path, f"{raw[column].iloc[i]!r} is not valid", row=i, column=column)
    return out


def _others(directory: Path) -> list[str]:
    """Entries of `directory` that are not the publication nor a temporary (e.g. the plot)."""
    if not directory.is_dir():
        return []
    published = {p.name for p in _existing(directory)}
    return sorted(p.name for p in directory.iterdir() if p.name not in published
                  and not (p.name.startswith(".") and p.name.endswith(".tmp")))


def publish(forecasts: Mapping[str, pd.DataFrame], *, as_of: str, out_dir: str | Path,
            overwrite: bool = False, manifest_extra: Mapping | None = None,
            coherent: bool = True, label: str | None = None,
            history: pd.DataFrame | None = None, several: bool = False) -> PublishResult:
    """Validate, then atomically write one CSV per scenario and manifest.json under
    out_dir/<label> (label: `as_of`, or e.g. `2025-12-preliminary` for a nowcast publication).

    `history` (a modelling panel: unique_id, ds, y, status) is published as history.csv, with
    its checksum in the manifest's `files`, so a later report can list what changed since.

    `several`: the ids are keyed `<product>/<id>` (several products): the CSVs and the history
    gain a `product` column and coherence is checked per product.

    Nothing is written if any frame is invalid (InputError, a ValueError) or if the as_of
    directory already holds a publication and `overwrite` is False (PublishExistsError).
    With overwrite=True the new set replaces the old one in one step (the month's directory is
    swapped, forecasting.atomic.write_dir_atomic): a reader or a killed job sees the old set or
    the new one, never a mix; other files of the directory (the plot) are kept.
    """
    if not _AS_OF_RE.match(str(as_of)):
        raise ValueError(f"as_of must be 'YYYY-MM', got {as_of!r}")
    if not forecasts:
        raise ValueError("nothing to publish: no scenarios given")
    for scenario in forecasts:
        if not _SCENARIO_RE.match(scenario):
            raise ValueError(f"scenario name {scenario!r} must match {_SCENARIO_RE.pattern}")
    extra = dict(manifest_extra or {})
    reserved = {"as_of", "label", "scenarios", "created", "files"} & set(extra)
    if reserved:
        raise ValueError(f"manifest_extra may not set reserved key(s) {sorted(reserved)}")
    if label is not None and not _LABEL_RE.match(label):
        raise ValueError(f"label must be 'YYYY-MM' or 'YYYY-MM-preliminary', got {label!r}")
    directory = refuse_republish(out_dir, as_of=label or as_of, overwrite=overwrite)

    scenarios = sorted(forecasts)
    payload: dict[Path, bytes] = {}
    files = []
    for scenario in scenarios:
        validate_forecast(forecasts[scenario], as_of=as_of, source=f"scenario '{scenario}'",
                          coherent=coherent, several=several)
        public = to_public(forecasts[scenario], as_of=as_of, scenario=scenario, several=several)
        data = _csv_bytes(public)
        payload[directory / csv_name(scenario)] = data
        files.append({"name": csv_name(scenario), "rows": len(public),
                      "sha256": hashlib.sha256(data).hexdigest()})
    if history is not None:
        public = history_public(history, several=several)
        data = public.to_csv(index=False, lineterminator="\n").encode("utf-8")
        payload[directory / HISTORY_NAME] = data
        files.append({"name": HISTORY_NAME, "rows": len(public),
                      "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {**extra, "as_of": as_of, "label": label or as_of, "scenarios": scenarios,
                "files": files,
                "created": datetime.now(UTC).isoformat(timespec="seconds")}
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"
    payload[directory / MANIFEST_NAME] = text.encode("utf-8")

    directory.parent.mkdir(parents=True, exist_ok=True)
    write_dir_atomic(directory, {path.name: data for path, data in payload.items()},
                     carry=_others(directory))
    for stale in set(_existing(directory)) - set(payload):  # left only where no dir swap
        stale.unlink()
    return PublishResult(
        directory=directory,
        csv_paths={s: directory / csv_name(s) for s in scenarios},
        manifest_path=directory / MANIFEST_NAME,
        manifest=json.loads(text),
        history_path=directory / HISTORY_NAME if history is not None else None,
    )


def read_published(path: str | Path) -> pd.DataFrame:
    """Read a published forecast CSV back, check its schema and values; raise InputError if bad."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    if tuple(raw.columns) not in (PUBLIC_COLUMNS, PRODUCT_PUBLIC_COLUMNS):
        raise InputError(path, f"columns are {list(raw.columns)}, expected {list(PUBLIC_COLUMNS)}"
                         f" (with several products: {list(PRODUCT_PUBLIC_COLUMNS)})")
    for col in ("as_of", "month"):
        bad = ~raw[col].str.match(_AS_OF_RE.pattern).to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise InputError(path, f"{raw[col].iloc[i]!r} is not YYYY-MM", row=i, column=col)
    out = raw.copy()
    for col in ("horizon", *PUBLIC_BOUNDS):
        out[col] = pd.to_numeric(raw[col], errors="coerce")
        bad = out[col].isna().to_numpy()
        if bad.any():
            i = int(bad.argmax())
            raise InputError(path, f"{raw[col].iloc[i]!r} is not a number", row=i, column=col)
    bad = ~raw["kind"].isin(KINDS).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(path, f"kind {raw['kind'].iloc[i]!r} is not one of {', '.join(KINDS)}",
                         row=i, column="kind")
    out["horizon"] = out["horizon"].astype("int64")
    if (out["horizon"] < 1).any():
        i = int((out["horizon"] < 1).to_numpy().argmax())
        raise InputError(path, "horizon must be >= 1", row=i, column="horizon")
    _check_values(out, PUBLIC_BOUNDS, source=path)
    cell = ["scenario", *([PRODUCT_COL] if PRODUCT_COL in raw.columns else []), "destination",
            "month"]
    dup = out.duplicated(cell).to_numpy()
    if dup.any():
        raise InputError(path, f"duplicate {'-'.join(cell)}", row=int(dup.argmax()),
                         column="month")
    return out
