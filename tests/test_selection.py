"""Champion / ensemble selection on prior backtest folds only: no fold chooses its own model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.selection import (
    add_champion_and_ensemble,
    apply_choice,
    final_choice,
    prior_folds_choice,
)
from forecasting.models.routing import model_columns
from forecasting.schema import FREQ

H = 2
CUTOFFS = pd.date_range("2020-01-01", periods=8, freq=FREQ)


def backtest_frame(errors: dict[str, np.ndarray], *, ids: tuple[str, ...] = ("DE",),
                   status: str = "reported") -> pd.DataFrame:
    """Backtest frame: y = 100, model point = y + errors[model][fold, horizon-1], +-lv/10 bands."""
    rows = [(uid, c + pd.DateOffset(months=k), c, k) for uid in ids
            for c in CUTOFFS for k in range(1, H + 1)]
    out = pd.DataFrame(rows, columns=["unique_id", "ds", "cutoff", "horizon"])
    out["y"], out["status"] = 100.0, status
    fold, step = out["cutoff"].map({c: i for i, c in enumerate(CUTOFFS)}), out["horizon"] - 1
    for model, err in errors.items():
        out[model] = 100.0 + np.asarray(err, dtype=float)[fold, step]
        for lv in (80, 95):
            out[f"{model}-lo-{lv}"] = out[model] - lv / 10
            out[f"{model}-hi-{lv}"] = out[model] + lv / 10
    return out


def per_fold(values: list[float]) -> np.ndarray:
    """Same error at every horizon of each fold."""
    return np.repeat(np.asarray(values, dtype=float)[:, None], H, axis=1)


A_THEN_B = {"A": per_fold([1, 1, 1, 1, 10, 10, 10, 10]), "B": per_fold([5, 5, 5, 5, 1, 1, 1, 1])}


def test_champion_at_each_cutoff_comes_from_completed_prior_folds_only():
    choice = prior_folds_choice(backtest_frame(A_THEN_B), models=["A", "B"], h=H)
    # Folds Jan..Apr favour A, May..Aug favour B; cutoff c sees only folds with cutoff <= c - 2.
    # Choosing on the fold itself would give B from May; on all folds, B everywhere;
    # counting the still-open fold at c - 1 would already give B in July.
    assert choice["cutoff"].tolist() == list(CUTOFFS[2:])
    assert choice["champion"].tolist() == ["A", "A", "A", "A", "A", "B"]
    assert choice["ranked"].iloc[-1] == ("B", "A")
    assert choice["n_cells"].tolist() == [2, 4, 6, 8, 10, 12]


def test_a_folds_own_and_open_folds_errors_never_move_its_champion():
    rng = np.random.default_rng(0)
    errors = {m: rng.normal(0, 5, (len(CUTOFFS), H)) for m in ("A", "B", "C")}
    base = backtest_frame(errors, ids=("DE", "US"))
    reference = prior_folds_choice(base, models=["A", "B", "C"], h=H, top_k=2)
    for c in CUTOFFS:
        shaken = base.copy()
        still_open = (shaken["cutoff"] + pd.DateOffset(months=H)) > c
        shaken.loc[still_open, "y"] = rng.uniform(0, 1000, int(still_open.sum()))
        again = prior_folds_choice(shaken, models=["A", "B", "C"], h=H, top_k=2)
        pd.testing.assert_frame_equal(again[again["cutoff"] == c], reference[reference["cutoff"]
                                                                              == c])
    prior = base.copy()
    first = prior["cutoff"] == CUTOFFS[0]
    prior.loc[first, "C"] = prior.loc[first, "y"]
    prior.loc[first, ["A", "B"]] += 50.0
    moved = prior_folds_choice(prior, models=["A", "B", "C"], h=H, top_k=2)
    assert moved.loc[moved["cutoff"] == CUTOFFS[2], "champion"].tolist() == ["C", "C"]
    assert reference.loc[reference["cutoff"] == CUTOFFS[2], "champion"].tolist() != ["C", "C"]


def test_champion_mae_equals_the_always_better_model():
    rng = np.random.default_rng(1)
    small = rng.uniform(-3, 3, (len(CUTOFFS), H))
    big = np.sign(rng.uniform(-1, 1, (len(CUTOFFS), H))) * (np.abs(small) + rng.uniform(1, 4))
    bt = backtest_frame({"B": big, "A": small}, ids=("DE", "JP"))
    choice = prior_folds_choice(bt, models=["B", "A"], h=H)
    out = add_champion_and_ensemble(bt, choice, models=["B", "A"])
    scored = out["Champion"].notna()
    assert scored.sum() == 2 * H * (len(CUTOFFS) - H)
    assert out.loc[~scored, "cutoff"].isin(CUTOFFS[:H]).all()
    assert out.loc[~scored, model_columns("Ensemble")].isna().all().all()
    mae = (out.loc[scored, ["Champion", "A", "B"]].sub(out.loc[scored, "y"], axis=0)).abs().mean()
    assert mae["Champion"] == pytest.approx(mae["A"]) and mae["A"] < mae["B"]
    np.testing.assert_array_equal(out.loc[scored, model_columns("Champion")].to_numpy(),
                                  out.loc[scored, model_columns("A")].to_numpy())
    np.testing.assert_allclose(out.loc[scored, "Ensemble"],
                               (out.loc[scored, "A"] + out.loc[scored, "B"]) / 2)


def test_only_reported_cells_rank_when_the_series_has_any():
    reported = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([2] * 8)})
    estimated = backtest_frame({"A": per_fold([50] * 8), "B": per_fold([0] * 8)},
                               status="estimated")
    only_estimated = backtest_frame({"A": per_fold([50] * 8), "B": per_fold([0] * 8)},
                                    ids=("VN",), status="estimated")
    bt = pd.concat([reported, estimated, only_estimated], ignore_index=True)
    strict = final_choice(bt, models=["A", "B"]).set_index("unique_id")
    assert strict.loc["DE", ["champion", "n_cells"]].tolist() == ["A", 16]
    assert "VN" not in strict.index  # no reported cell: no choice (the job uses the baseline)
    loose = final_choice(bt, models=["A", "B"], only_reported=False).set_index("unique_id")
    assert loose.loc["DE", ["champion", "n_cells"]].tolist() == ["B", 32]


def test_metric_choice_and_ties_go_to_the_first_listed_model():
    bt = backtest_frame({"A": per_fold([0, 0, 0, 9, 0, 0, 0, 9]), "B": per_fold([3] * 8),
                         "N": per_fold([3] * 8)})
    assert final_choice(bt, models=["A", "B"])["champion"].item() == "A"
    assert final_choice(bt, models=["A", "B"], metric="rmse")["champion"].item() == "B"
    assert final_choice(bt, models=["N", "B", "A"], top_k=2)["ranked"].item() == ("A", "N")
    with pytest.raises(ValueError, match="metric 'mape' not in"):
        final_choice(bt, models=["A"], metric="mape")


def test_cells_missing_a_model_are_left_out_of_every_models_score():
    bt = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([2] * 8)})
    bt.loc[bt["cutoff"] == CUTOFFS[0], "B"] = np.nan
    bt.loc[bt["cutoff"] == CUTOFFS[0], "A"] = 500.0
    choice = prior_folds_choice(bt, models=["A", "B"], h=H)
    assert choice["cutoff"].min() == CUTOFFS[3] and choice["champion"].unique().tolist() == ["A"]


def test_final_choice_uses_every_fold_and_applies_to_a_forecast_frame():
    choice = final_choice(backtest_frame(A_THEN_B, ids=("DE", "US")), models=["A", "B"])
    assert choice.columns.tolist() == ["unique_id", "champion", "ranked", "n_cells"]
    assert choice["champion"].tolist() == ["B", "B"] and choice["n_cells"].tolist() == [16, 16]
    fcst = backtest_frame(A_THEN_B, ids=("DE", "US")).drop(
        columns=["cutoff", "y", "status", "horizon"]).head(3)
    out = apply_choice(fcst, choice, models=["A", "B"])
    np.testing.assert_array_equal(out[model_columns("Champion")].to_numpy(),
                                  fcst[model_columns("B")].to_numpy())
    with pytest.raises(ValueError, match="use prior_folds_choice"):
        add_champion_and_ensemble(backtest_frame(A_THEN_B), choice, models=["A", "B"])


def test_ensemble_is_the_median_of_the_top_k_with_ordered_bounds():
    fcst = pd.DataFrame({"unique_id": ["DE", "US", "JP"], "ds": pd.Timestamp("2026-01-01")})
    for model, point, lo80 in (("A", 10.0, 25.0), ("B", 20.0, 25.0), ("C", 30.0, 5.0)):
        fcst[model] = point
        fcst[f"{model}-lo-80"], fcst[f"{model}-hi-80"] = lo80, point + 10
    choice = pd.DataFrame({"unique_id": ["DE", "US"], "champion": ["B", "C"],
                           "ranked": [("B", "A", "C"), ("C", "A")], "n_cells": [4, 4]})
    out = apply_choice(fcst, choice, models=["A", "B", "C"], levels=(80,)).set_index("unique_id")
    assert out.loc["DE", ["Ensemble", "Ensemble-lo-80", "Ensemble-hi-80"]].tolist() == [20, 20, 30]
    assert out.loc["US", ["Ensemble", "Ensemble-lo-80", "Ensemble-hi-80"]].tolist() == [20, 15, 30]
    assert out.loc["DE", "Champion"] == 20 and out.loc["US", "Champion-hi-80"] == 40
    assert out.loc["JP", ["Champion", "Ensemble"]].isna().all()


def test_identical_models_count_once_in_the_top_k():
    bt = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([2] * 8), "C": per_fold([3] * 8)})
    bt["Routed"] = bt["A"]
    for suffix in ("-lo-80", "-hi-80", "-lo-95", "-hi-95"):
        bt["Routed" + suffix] = bt["A" + suffix]
    ranked = final_choice(bt, models=["A", "Routed", "B", "C"], top_k=3)["ranked"].item()
    assert ranked == ("A", "B", "C")
