"""report.html: one self-contained page per publication for readers of forecasts, not CSVs.

Sections: identifiers, what changed since the last publication (new figures, revisions),
fan charts per scenario, scenario comparison, an index of every published series (the charts
draw a dozen at most), backtest leaderboard, scorecard of past publications, data provenance.
Charts are the PNGs plots.py drew for the run (fan charts, scenario comparison) inlined as
base64 data URIs, the style sheet is inline: the page needs no network and no other file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.atomic import write_bytes_atomic
from forecasting.plots import shown_series
from forecasting.publish import (
    HISTORY_NAME,
    PublishResult,
    history_public,
    keyed_destinations,
    read_history,
)
from forecasting.reconcile import FORECAST_COL
from forecasting.schema import ID_COL, STATUS_COL, STATUSES, TARGET_COL, TIME_COL
from forecasting.scorecard import BASELINE, SCORED, SHORT_NAMES, Publication, Scorecard, by_horizon

REPORT_NAME = "report.html"
MAX_ROWS = 40  # rows of a change table shown; the rest are counted
MAX_SERIES_TABLE = 30  # provenance per series up to this many series, else totals only
REL_TOL = 1e-9
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1140px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child,.text td{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,.note{color:#555;font-size:.9em}code{background:#f5f5f5;padding:0 .2em}
"""


def _esc(text: object) -> str:
    return html.escape(str(text))


def _table(df: pd.DataFrame, *, digits: int = 3, text: bool = False) -> str:
    """A frame as an HTML table (escaped; numbers with `digits` decimals, '-' for missing;
    `text`: every column left-aligned)."""
    return df.to_html(index=False, border=0, na_rep="-", escape=True,
                      classes="text" if text else None,
                      float_format=lambda v: f"{v:,.{digits}f}")


def _img(png: bytes, alt: str, caption: str) -> str:
    """A figure with the PNG inlined as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def history_changes(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What the current history adds to or changes in the previous one (both as published:
    destination, month, tonnes, status).

    `new`: cells reported or derived now that were absent or estimated before; `revised`:
    cells reported or derived in both whose value or status changed; `re_estimated`:
    estimated in both with another value (estimates move when figures arrive).
    """
    both = previous.merge(current, on=["destination", "month"], how="outer",
                          suffixes=("_before", "_now"))
    known_now = both["status_now"].isin(SCORED)
    known_before = both["status_before"].isin(SCORED)
    moved = ~np.isclose(both["tonnes_before"], both["tonnes_now"], rtol=REL_TOL, atol=0.0)
    new = both.loc[known_now & ~known_before]
    revised = both.loc[known_now & known_before & (moved | (both["status_before"]
                                                            != both["status_now"]))]
    re_est = both.loc[(both["status_now"] == "estimated") & (both["status_before"] == "estimated")
                      & moved]
    revised = revised.assign(change=revised["tonnes_now"] - revised["tonnes_before"],
                             change_pct=100 * (revised["tonnes_now"] / revised["tonnes_before"]
                                               - 1))
    cols = ["destination", "month", "status_before", "tonnes_before", "status_now", "tonnes_now"]
    return {"new": new[cols].reset_index(drop=True),
            "revised": revised[[*cols, "change", "change_pct"]].reset_index(drop=True),
            "re_estimated": re_est[cols].reset_index(drop=True)}


def _capped(df: pd.DataFrame, *, digits: int = 1) -> str:
    """A table of at most MAX_ROWS rows, with a note counting the rest."""
    more = len(df) - MAX_ROWS
    note = f'<p class="note">... and {more} more rows.</p>' if more > 0 else ""
    return _table(df.head(MAX_ROWS), digits=digits) + note


def _changes_section(previous: Publication | None, current: pd.DataFrame) -> str:
    """What changed since the last publication, from its history.csv."""
    if previous is None:
        return "<p>No earlier publication: this is the first, every figure is new.</p>"
    path = previous.directory / HISTORY_NAME
    if not path.is_file():
        return (f"<p>The previous publication ({_esc(previous.as_of)}) does not keep its history "
                f"(no <code>{HISTORY_NAME}</code>, published before it was added): changes "
                "cannot be listed.</p>")
    ch = history_changes(keyed_destinations(read_history(path)), current)
    parts = [f"<p>Compared with the history behind the publication of "
             f"<b>{_esc(previous.as_of)}</b> (its <code>{HISTORY_NAME}</code>): "
             f"<b>{len(ch['new'])}</b> new reported or derived figures, "
             f"<b>{len(ch['revised'])}</b> revisions of earlier figures, "
             f"{len(ch['re_estimated'])} estimated cells re-estimated (estimates lean on the "
             "figures around them).</p>"]
    if len(ch["new"]):
        parts += ["<h3>New figures</h3>", _capped(ch["new"])]
    if len(ch["revised"]):
        parts += ["<h3>Revisions (old -> new)</h3>", _capped(ch["revised"], digits=2)]
    return "".join(parts)


def _identifiers(manifest: Mapping) -> str:
    """The manifest's identifiers as a two-column table."""
    data = (manifest.get("config") or {}).get("data") or {}
    rows = [("as_of", manifest.get("as_of")), ("created (UTC)", manifest.get("created")),
            ("MLflow run id", manifest.get("mlflow_run_id")),
            ("data hash", manifest.get("data_hash")),
            ("data source", data.get("path") or "bundled"),
            ("git commit", f"{manifest.get('git_commit')}"
             + (" (uncommitted changes)" if manifest.get("git_dirty") else "")),
            ("package version", manifest.get("package_version")),
            ("scenarios", ", ".join(manifest.get("scenarios", [])))]
    rows += [(f"file {f['name']}", f"{f['rows']} rows, sha256 {f['sha256'][:16]}...")
             for f in manifest.get("files", [])]
    return _table(pd.DataFrame(rows, columns=["field", "value"]).fillna("-"), text=True)


def _scenario_table(forecasts: Mapping[str, pd.DataFrame], history: pd.DataFrame,
                    reference: str) -> pd.DataFrame:
    """Tonnes over the horizon per shown series and scenario, and the change vs reference."""
    ids = shown_series(history, set().union(*(set(f[ID_COL]) for f in forecasts.values())))
    totals = pd.DataFrame({name: f.groupby(ID_COL)[FORECAST_COL].sum()
                           for name, f in sorted(forecasts.items())}).reindex(ids)
    out = totals.rename(columns=lambda c: f"{c} (t)")
    if reference in totals:
        for name in totals.columns.drop(reference):
            out[f"{name} vs {reference} (%)"] = 100 * (totals[name] / totals[reference] - 1)
    return out.rename_axis("series").reset_index()


def series_index(forecasts: Mapping[str, pd.DataFrame], history: pd.DataFrame,
                 reference: str) -> pd.DataFrame:
    """Every published series, largest first by the last 12 months of history: those tonnes,
    the forecast summed over the horizon under `reference` (else the first scenario), the
    model behind it and whether the charts draw the series (they draw a dozen at most)."""
    name = reference if reference in forecasts else sorted(forecasts)[0]
    fc = forecasts[name]
    ids = set(fc[ID_COL])
    ds = pd.to_datetime(history[TIME_COL])
    recent = history.loc[(ds > ds.max() - pd.DateOffset(months=12)) & history[ID_COL].isin(ids)]
    out = pd.DataFrame({
        "last 12 months (t)": recent.groupby(ID_COL)[TARGET_COL].sum(),
        f"forecast {name} (t)": fc.groupby(ID_COL)[FORECAST_COL].sum(),
        "model": fc.groupby(ID_COL)["model"].first().astype(str)}).reindex(sorted(ids))
    out = out.sort_values("last 12 months (t)", ascending=False, kind="stable",
                          na_position="last")
    drawn = set(shown_series(history, ids))
    out["in charts"] = ["yes" if uid in drawn else "" for uid in out.index]
    return out.rename_axis("series").reset_index()


def _index_section(forecasts: Mapping[str, pd.DataFrame], history: pd.DataFrame,
                   reference: str) -> str:
    index = series_index(forecasts, history, reference)
    drawn = int((index["in charts"] == "yes").sum())
    return (f"<p>All <b>{len(index)}</b> published series, largest first; the charts above "
            f"draw {drawn} of them (WORLD, the largest partners, OTHER). Every row of every "
            "series is in the published CSV.</p>" + _table(index, digits=1))


def _leaderboard_section(board: pd.DataFrame | None) -> str:
    if board is None or board.empty:
        return "<p>No backtest leaderboard for this publication.</p>"
    cols = ["rank", "model", "mase", "skill", "smape", "coverage_80", "coverage_95", "msis_80",
            "msis_95", "scaled_crps", "n_series", "n_scored"]
    first = board.iloc[0]
    return (f"<p>Rolling-origin backtest; every model scored on the same "
            f"<b>{int(first['n_scored'])}</b> cells of {int(first['n_series'])} series "
            f"(actuals: <code>{_esc(first['score_on'])}</code>). Skill = 1 - MASE / MASE of the "
            "baseline on the same cells (positive = better); coverage: share of actuals inside "
            "the 80%/95% bands; MSIS: width plus misses, scaled (lower is better).</p>"
            + _table(board[[c for c in cols if c in board.columns]]))


def _scorecard_section(card: Scorecard | None) -> str:
    if card is None or not card.publications:
        return "<p>No earlier publication to score yet.</p>"
    n = int(card.summary["n_scored"].sum())
    return (f"<p>Each earlier publication (its reference scenario, column <code>scenario"
            f"</code>) against the figures known now: <b>{n}</b> cells "
            f"scored, only where the actual is reported or derived; <code>n_due</code> counts "
            f"the published months known now (estimated ones are not scored). {BASELINE} is "
            "refitted on the history known at each publication's month; skill = 1 - "
            f"MASE / MASE[{BASELINE}] (SN) on the same cells; cov80/cov95: share of actuals "
            "inside the published 80%/95% intervals.</p>"
            + _table(card.summary.rename(columns=SHORT_NAMES), digits=2)
            + ("<h3>By horizon, every publication</h3>"
               + _table(by_horizon(card.cells).rename(columns=SHORT_NAMES), digits=2)
               if n else ""))


def _provenance_section(history: pd.DataFrame) -> str:
    counts = pd.crosstab(history[ID_COL], history[STATUS_COL]).reindex(
        columns=list(STATUSES), fill_value=0)
    total = counts.sum()
    line = ", ".join(f"{int(total[s])} {s}" for s in STATUSES)
    text = (f"<p>History behind the forecast: {int(total.sum())} cells: {line}. Reported: as a "
            "source prints it; derived: computed from a reported figure and a reported "
            "percentage; estimated: no figure for that month (drawn dashed, never scored).</p>")
    if len(counts) <= MAX_SERIES_TABLE:
        counts["estimated share"] = counts["estimated"] / counts.sum(axis=1)
        text += _table(counts.rename_axis(index="series", columns=None).reset_index(),
                       digits=2)
    return text


def build_report(published: PublishResult, *, forecasts: Mapping[str, pd.DataFrame],
                 history: pd.DataFrame, board: pd.DataFrame | None = None,
                 card: Scorecard | None = None, fans: Mapping[str, Path] | None = None,
                 comparison: Path | None = None) -> str:
    """The report page of a publication as an HTML string.

    `fans`: the fan chart PNG of each scenario (plots.plot_fan), `comparison`: the scenario
    comparison PNG (plots.plot_scenarios); None when the run drew no plots.
    """
    manifest = published.manifest
    as_of = manifest["as_of"]
    reference = ((manifest.get("config") or {}).get("publish") or {}).get(
        "scenario_effect", {}).get("reference", sorted(forecasts)[0])
    previous = card.publications[-1] if card is not None and card.publications else None
    fan_html = "".join(_img(Path(fans[name]).read_bytes(), f"fan chart {name}",
                            f"Scenario {name}: forecast with 80% and 95% intervals over the "
                            "last 36 months of history.")
                       for name in sorted(forecasts)) if fans else (
        '<p class="note">Charts were not drawn (plots=false).</p>')
    compare = _img(Path(comparison).read_bytes(), "scenario comparison",
                   "Point forecast per scenario.") if comparison else ""
    models = sorted({m for f in forecasts.values() for m in f["model"].astype(str)})
    h = max(int(f[TIME_COL].nunique()) for f in forecasts.values())
    sections = [
        ("identifiers", "Identifiers", _identifiers(manifest)),
        ("changes", "What changed since the last publication",
         _changes_section(previous, history_public(history))),
        ("fan-charts", "Fan charts per scenario", fan_html),
        ("scenarios", "Scenario comparison",
         f"<p>Tonnes summed over the {h} forecast months per series, and each scenario against "
         f"<code>{_esc(reference)}</code>.</p>"
         + _table(_scenario_table(forecasts, history, reference), digits=1) + compare),
        ("series-index", "Series index", _index_section(forecasts, history, reference)),
        ("leaderboard", "Backtest leaderboard", _leaderboard_section(board)),
        ("scorecard", "Scorecard of past publications", _scorecard_section(card)),
        ("provenance", "Data provenance", _provenance_section(history)),
    ]
    body = "".join(f'<section id="{sid}"><h2>{_esc(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Forecast report {_esc(as_of)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Forecast report: as_of {_esc(as_of)}</h1>"
            f"<p>{h} months ahead under {len(forecasts)} scenario(s): "
            f"{_esc(', '.join(sorted(forecasts)))}. Published model(s): "
            f"{_esc('; '.join(models[:6]))}{' ...' if len(models) > 6 else ''}.</p>"
            f"{body}</body></html>\n")


def write_report(published: PublishResult, **kwargs: object) -> Path:
    """Write report.html beside the publication's CSVs, atomically; return its path."""
    page = build_report(published, **kwargs)
    return write_bytes_atomic(published.directory / REPORT_NAME, page.encode("utf-8"))
