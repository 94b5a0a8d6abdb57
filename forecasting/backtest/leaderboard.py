"""Rank models by mean MASE over series, with skill against the baseline on the same cells."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.backtest.metrics import in_scope, summarise
from forecasting.schema import CUTOFF_COL, ID_COL, TIME_COL

CELL_KEY = [ID_COL, TIME_COL, CUTOFF_COL]
BOARD_COLUMNS: tuple[str, ...] = (
    "rank", "model", "mase", "skill", "smape", "coverage_80", "coverage_95", "msis_80",
    "msis_95", "scaled_crps", "mae", "wape", "bias", "n_series", "n_scored", "score_on")


def leaderboard(cells: pd.DataFrame, *, baseline: str, score_on: str = "reported_derived",
                ) -> pd.DataFrame:
    """One row per model: mean MASE over series, sMAPE, coverage and MSIS side by side, skill.

    Every model is scored on the same cells: those where all models have a forecast (the
    champion and ensemble do not exist on the first fold, which has nothing realised before
    it to choose from, and ranking models scored on different cells would compare different
    tests). `n_series`/`n_scored` count those series and cells, `score_on` names the status
    scope they were taken from. MASE and MSIS are means over series of per-series means;
    sMAPE, coverage, MAE and bias means over cells; WAPE and scaled CRPS pooled ratios.
    Skill = 1 - MASE(model) / MASE(baseline). Each model's scores on all its own cells are in
    `metrics.csv`.
    """
    cells = in_scope(cells, score_on)
    n_models = cells["model"].nunique()
    cells = cells.loc[cells.groupby(CELL_KEY)["model"].transform("nunique") == n_models]
    per_series = summarise(cells, ["model", ID_COL])
    board = per_series.groupby("model").agg(
        mase=("mase", "mean"), msis_80=("msis_80", "mean"), msis_95=("msis_95", "mean"),
        n_series=(ID_COL, "nunique"), n_scored=("n_scored", "sum"))
    pooled = summarise(cells, ["model"]).set_index("model")
    board = board.join(pooled[["smape", "mae", "wape", "bias", "coverage_80", "coverage_95",
                               "scaled_crps"]])
    board["skill"] = pd.Series({model: _skill(part, cells, baseline)
                                for model, part in cells.groupby("model")})
    board["score_on"] = score_on
    board = board.sort_values(["mase", "wape"]).reset_index()
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board[list(BOARD_COLUMNS)]


def _skill(part: pd.DataFrame, cells: pd.DataFrame, baseline: str) -> float:
    """1 - mean-over-series MASE of `part` / that of the baseline on the same cells."""
    base = cells.loc[cells["model"] == baseline].set_index(CELL_KEY)
    same = part.set_index(CELL_KEY).join(base[["error", "scale"]], rsuffix="_base", how="inner")
    if not len(same):
        return np.nan
    model_mase = (same["error"].abs() / same["scale"]).groupby(level=ID_COL).mean()
    base_mase = (same["error_base"].abs() / same["scale"]).groupby(level=ID_COL).mean()
    return float(1.0 - model_mase.mean() / base_mase.mean())


@dataclass(frozen=True)
class PublishedChoice:
    """The candidate a forecast is published from, with its backtest evidence."""

    model: str
    setting: str
    evidence: dict[str, float]

    def summary(self) -> str:
        """One line: which candidate, why, and its scores on how many cells."""
        e = self.evidence
        why = "best backtest MASE" if self.setting == "auto" else f"publish.choice={self.setting}"
        if not e:
            return f"published: {self.model} ({why}; no backtest scores)"
        return (f"published: {self.model} ({why}): MASE {e['mase']:.3f}, skill {e['skill']:+.3f} "
                f"vs baseline, sMAPE {e['smape']:.2f}, coverage80 {e['coverage_80']:.2f}, "
                f"MSIS80 {e['msis_80']:.2f}, on {int(e['n_scored'])} cells of "
                f"{int(e['n_series'])} series ({e['score_on']})")


def published_choice(board: pd.DataFrame, *, setting: str,
                     candidates: list[str]) -> PublishedChoice:
    """The published candidate: `auto` = the lowest MASE on the leaderboard among `candidates`.

    `candidates` are the board's eligible rows (Ensemble, Champion and each model); a named
    setting (ensemble, champion or a model alias) is taken as is. ValueError on an unknown
    name. The evidence is the candidate's leaderboard row (the same cells for every model).
    """
    names = {c.lower(): c for c in candidates}
    if setting != "auto" and setting.lower() not in names:
        raise ValueError(f"publish.choice={setting!r} is not auto or one of {candidates}")
    rows = board.set_index("model").loc[[c for c in candidates if c in set(board["model"])]]
    if setting == "auto":
        model = str(rows["mase"].idxmin()) if rows["mase"].notna().any() else candidates[0]
    else:
        model = names[setting.lower()]
    evidence = rows.loc[model].to_dict() if model in rows.index else {}
    return PublishedChoice(model=model, setting=setting, evidence=evidence)
