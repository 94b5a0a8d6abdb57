"""Scorecard: earlier publications scored against the figures known now, beside SeasonalNaive.

Every publication in `publish.dir` (its manifest and the CSV of its reference scenario) is
matched cell by cell (destination, month) with the panel known now. Only cells whose actual is
reported or derived are scored; estimated months and months not yet known are counted, never
scored. SeasonalNaive is refitted from the panel as known at each publication's `as_of` (the
same ModelInput.panel_at machinery as the backtest), so the reference sees no later figure.

Published numbers are rounded to 0.1: an interval 'held' when the actual lies within its
bounds give or take half that step (TOLERANCE), and the absolute percentage error of an
actual smaller than TOLERANCE (a zero) is undefined (NaN), not infinite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from statsforecast.models import Naive, SeasonalNaive

from forecasting.atomic import write_bytes_atomic
from forecasting.backtest.metrics import SCORE_ON, seasonal_scale
from forecasting.inputs import ModelInput
from forecasting.models.stats import StatsForecaster
from forecasting.publish import MANIFEST_NAME, csv_name, keyed_destinations, read_published
from forecasting.schema import (
    CUTOFF_COL,
    ID_COL,
    LEVELS,
    SEASON_LENGTH,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    InputError,
    hi_col,
    lo_col,
)
from forecasting.settings import MONTH

BASELINE = "SeasonalNaive"
SHORT_NAMES = {"mape": "MAPE %", "coverage_80": "cov80", "coverage_95": "cov95",
               "snaive_mape": "SN MAPE %", "snaive_coverage_80": "SN cov80",
               "snaive_coverage_95": "SN cov95", "skill": "skill vs SN"}
DEFAULT_SCENARIO = "status_quo"
SCORED = SCORE_ON["reported_derived"]
CARD_NAME = "scorecard.csv"
TOLERANCE = 0.05  # half the published rounding step (0.1)
CARD_COLUMNS: tuple[str, ...] = (
    "as_of", "scenario", "destination", "month", "horizon", "model", "status", "actual",
    "tonnes", "lo_80", "hi_80", "lo_95", "hi_95", "error", "ape", "held_80", "held_95",
    "snaive", "snaive_lo_80", "snaive_hi_80", "snaive_lo_95", "snaive_hi_95", "snaive_error",
    "snaive_ape", "snaive_held_80", "snaive_held_95", "scale")


@dataclass(frozen=True)
class Publication:
    """One earlier publication: its month, directory, manifest and the scenario scored."""

    as_of: str
    directory: Path
    manifest: dict
    scenario: str


@dataclass
class Scorecard:
    """Scored cells of every earlier publication and one summary row per publication."""

    cells: pd.DataFrame
    summary: pd.DataFrame
    publish_dir: Path
    publications: list[Publication] = field(default_factory=list)

    def table(self) -> str:
        """The printed scorecard: per publication n cells, MAPE, coverage, vs SeasonalNaive."""
        if not self.publications:
            return f"scorecard: no earlier publication in {self.publish_dir}"
        shown = self.summary.copy()
        for col in ("mape", "snaive_mape"):
            shown[col] = shown[col].map(lambda v: f"{v:.1f}" if pd.notna(v) else "-")
        for col in ("coverage_80", "coverage_95", "snaive_coverage_80", "snaive_coverage_95",
                    "skill"):
            shown[col] = shown[col].map(lambda v: f"{v:.2f}" if pd.notna(v) else "-")
        shown = shown.rename(columns=SHORT_NAMES)
        n = int(self.summary["n_scored"].sum())
        return "\n".join([
            f"Scorecard of {len(self.publications)} earlier publication(s) in "
            f"{self.publish_dir}: {n} cells scored, each against a reported or derived figure "
            "known now (n_due: published months known now; the others are estimated, not "
            f"scored); SN = {BASELINE} refitted on the history known at each as_of; skill = 1 "
            f"- MASE/MASE[SN] on the same cells:",
            shown.to_string(index=False)])


def reference_scenario(manifest: dict) -> str:
    """The scenario a publication is scored on: the manifest's reference scenario, else
    status_quo, else its first scenario."""
    scenarios = list(manifest.get("scenarios", []))
    config = manifest.get("config") or {}
    reference = (config.get("publish") or {}).get("scenario_effect", {}).get("reference")
    for name in (reference, DEFAULT_SCENARIO):
        if name in scenarios:
            return str(name)
    if not scenarios:
        raise InputError(MANIFEST_NAME, "lists no scenarios", column="scenarios")
    return str(scenarios[0])


def find_publications(publish_dir: str | Path, *, before: str | None = None,
                      ) -> list[Publication]:
    """Every publication (a YYYY-MM directory with manifest.json) under `publish_dir`, oldest
    first; with `before`, only those whose as_of is earlier."""
    root = Path(publish_dir)
    if not root.is_dir():
        return []
    found = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        path = directory / MANIFEST_NAME
        if not MONTH.fullmatch(directory.name) or not path.is_file():
            continue
        if before is not None and directory.name >= before:
            continue
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(path, f"not a JSON manifest ({err})") from err
        found.append(Publication(as_of=directory.name, directory=directory,
                                 manifest=manifest, scenario=reference_scenario(manifest)))
    return found


def published_forecast(pub: Publication) -> pd.DataFrame:
    """The CSV of the scored scenario, checked against the manifest's checksum (several
    products: destinations keyed `<product>/<destination>`, as the panel's ids)."""
    path = pub.directory / csv_name(pub.scenario)
    if not path.is_file():
        raise InputError(path, "listed in the manifest but missing")
    listed = {f["name"]: f.get("sha256") for f in pub.manifest.get("files", [])}
    if listed.get(path.name) != hashlib.sha256(path.read_bytes()).hexdigest():
        raise InputError(path, "sha256 differs from the manifest's: the file changed after "
                         "publication", column="sha256")
    return keyed_destinations(read_published(path))


def seasonal_naive(history: pd.DataFrame, *, as_of: pd.Timestamp, h: int) -> pd.DataFrame:
    """SeasonalNaive (Naive for a series shorter than a season) with 80/95% intervals."""
    model = StatsForecaster([SeasonalNaive(season_length=SEASON_LENGTH, alias=BASELINE)],
                            fallback=Naive(alias="Fallback"), n_jobs=1)
    return model.forecast(history, h=h, as_of=as_of, level=LEVELS)


def _held(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each actual fell inside [lo, hi] give or take TOLERANCE (NaN: no bound)."""
    held = ((lo - TOLERANCE <= actual) & (actual <= hi + TOLERANCE)).astype(float)
    return np.where(np.isnan(lo) | np.isnan(hi), np.nan, held)


def _ape(error: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Absolute percentage error, NaN where the actual is 0 (below TOLERANCE)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(actual) >= TOLERANCE, 100 * np.abs(error) / np.abs(actual),
                        np.nan)


def score_publication(pub: Publication, data: ModelInput, actuals: pd.DataFrame,
                      ) -> tuple[pd.DataFrame, int]:
    """Scored cells of one publication and the number of its months known now (n_due)."""
    fc = published_forecast(pub)
    fc = fc.assign(**{TIME_COL: pd.to_datetime(fc["month"])})
    due = fc.merge(actuals, left_on=["destination", TIME_COL], right_on=[ID_COL, TIME_COL],
                   how="inner")
    cells = due.loc[due[STATUS_COL].isin(SCORED)].reset_index(drop=True)
    if cells.empty:
        return pd.DataFrame(columns=list(CARD_COLUMNS)), len(due)
    as_of = pd.Timestamp(pub.as_of)
    history = data.panel_at(as_of)
    snaive = seasonal_naive(history, as_of=as_of, h=int(cells["horizon"].max()))
    cells = cells.merge(snaive, on=[ID_COL, TIME_COL], how="left").merge(
        seasonal_scale(history, [as_of]).drop(columns=CUTOFF_COL), on=ID_COL, how="left")
    y = cells[TARGET_COL].to_numpy(dtype=float)
    out = cells[["as_of", "scenario", "destination", "month", "horizon", "model",
                 STATUS_COL]].copy()
    out["actual"] = y
    for col in ("tonnes", "lo_80", "hi_80", "lo_95", "hi_95"):
        out[col] = cells[col].to_numpy(dtype=float)
    out["error"] = out["tonnes"] - y
    out["ape"] = _ape(out["error"].to_numpy(), y)
    sn = cells[BASELINE].to_numpy(dtype=float)
    out["snaive"] = sn
    out["snaive_error"] = sn - y
    out["snaive_ape"] = _ape(sn - y, y)
    for level in LEVELS:
        out[f"snaive_lo_{level}"] = cells[lo_col(BASELINE, level)].to_numpy(dtype=float)
        out[f"snaive_hi_{level}"] = cells[hi_col(BASELINE, level)].to_numpy(dtype=float)
        for prefix in ("", "snaive_"):
            out[f"{prefix}held_{level}"] = _held(y, out[f"{prefix}lo_{level}"].to_numpy(),
                                                 out[f"{prefix}hi_{level}"].to_numpy())
    out["scale"] = cells["scale"].to_numpy(dtype=float)
    return out.loc[:, list(CARD_COLUMNS)], len(due)


def skill(cells: pd.DataFrame) -> float:
    """1 - mean-over-series MASE / that of SeasonalNaive, on cells where both have a scale."""
    ok = cells.loc[cells["scale"].notna() & cells["snaive"].notna()]
    if ok.empty:
        return np.nan
    model = (ok["error"].abs() / ok["scale"]).groupby(ok["destination"]).mean().mean()
    base = (ok["snaive_error"].abs() / ok["scale"]).groupby(ok["destination"]).mean().mean()
    return float(1 - model / base) if base > 0 else np.nan


def summarise(cells: pd.DataFrame) -> dict[str, float]:
    """Counts, MAPE (%), interval coverage and skill of scored cells, and SeasonalNaive's."""
    mean = cells[["ape", "held_80", "held_95", "snaive_ape", "snaive_held_80",
                  "snaive_held_95"]].astype(float).mean()
    return {"n_scored": len(cells), "n_series": int(cells["destination"].nunique()),
            "mape": mean["ape"], "coverage_80": mean["held_80"], "coverage_95": mean["held_95"],
            "snaive_mape": mean["snaive_ape"], "snaive_coverage_80": mean["snaive_held_80"],
            "snaive_coverage_95": mean["snaive_held_95"], "skill": skill(cells)}


def by_horizon(cells: pd.DataFrame) -> pd.DataFrame:
    """summarise() per forecast horizon, over every publication."""
    return pd.DataFrame([{"horizon": int(h), **summarise(part)}
                         for h, part in cells.groupby("horizon", sort=True)])


def scorecard(publish_dir: str | Path, data: ModelInput, *, before: str | None = None,
              ) -> Scorecard:
    """Score every publication in `publish_dir` (as_of earlier than `before`) against the
    panel `data` knows now."""
    pubs = find_publications(publish_dir, before=before)
    actuals = data.panel_at(None)[[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]]
    parts, rows = [], []
    for pub in pubs:
        cells, n_due = score_publication(pub, data, actuals)
        parts.append(cells)
        rows.append({"as_of": pub.as_of, "scenario": pub.scenario, "n_due": n_due,
                     **summarise(cells)})
    cells = (pd.concat([p for p in parts if len(p)], ignore_index=True)
             if any(len(p) for p in parts) else pd.DataFrame(columns=list(CARD_COLUMNS)))
    return Scorecard(cells=cells, summary=pd.DataFrame(rows), publish_dir=Path(publish_dir),
                     publications=pubs)


def summary_metrics(card: Scorecard) -> dict[str, float]:
    """A few pooled numbers for MLflow: publications, cells, MAPE, coverage, skill."""
    pooled = summarise(card.cells)
    return {"scorecard_n_publications": float(len(card.publications)),
            **{f"scorecard_{k}": float(v) for k, v in pooled.items()
               if k != "n_series" and pd.notna(v)}}


def write_scorecard(card: Scorecard, path: str | Path) -> Path:
    """scorecard.csv (every scored cell, CARD_COLUMNS; numbers to 6 decimals), atomically."""
    text = card.cells.round(6).to_csv(index=False, lineterminator="\n")
    return write_bytes_atomic(path, text.encode())
