"""Champion / ensemble chosen on cells realised by each fold's cutoff: none chooses itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.selection import (
    SelectionRule,
    add_champion_and_ensemble,
    apply_choice,
    choice_at_cutoffs,
    final_choice,
)
from forecasting.models.routing import model_columns
from forecasting.schema import FREQ

H = 2
CUTOFFS = pd.date_range("2020-01-01", periods=8, freq=FREQ)


def backtest_frame(errors: dict[str, np.ndarray], *, ids: tuple[str, ...] = ("DE",),
                   status: str = "reported", y: float = 100.0) -> pd.DataFrame:
    """Backtest frame: y, model point = y + errors[model][fold, horizon-1], +-lv/10 bands."""
    rows = [(uid, c + pd.DateOffset(months=k), c, k) for uid in ids
            for c in CUTOFFS for k in range(1, H + 1)]
    out = pd.DataFrame(rows, columns=["unique_id", "ds", "cutoff", "horizon"])
    out["y"], out["status"] = y, status
    fold, step = out["cutoff"].map({c: i for i, c in enumerate(CUTOFFS)}), out["horizon"] - 1
    for model, err in errors.items():
        out[model] = y + np.asarray(err, dtype=float)[fold, step]
        for lv in (80, 95):
            out[f"{model}-lo-{lv}"] = out[model] - lv / 10
            out[f"{model}-hi-{lv}"] = out[model] + lv / 10
    return out


def per_fold(values: list[float]) -> np.ndarray:
    """Same error at every horizon of each fold."""
    return np.repeat(np.asarray(values, dtype=float)[:, None], H, axis=1)


A_THEN_B = {"A": per_fold([1, 1, 1, 1, 10, 10, 10, 10]), "B": per_fold([5, 5, 5, 5, 1, 1, 1, 1])}


def test_each_fold_chooses_on_the_cells_realised_by_its_cutoff_partial_folds_included():
    choice = choice_at_cutoffs(backtest_frame(A_THEN_B), models=["A", "B"])
    # Folds Jan..Apr favour A, May..Aug favour B. Cutoff c sees the cells with ds <= c: the
    # fold at c - 1 month gives its 1-step cell, older folds both. Every fold but the first
    # has a choice; waiting for complete folds would give none at Feb (and none at all when
    # n_windows <= h); choosing on the fold itself would give B from May.
    assert choice["cutoff"].tolist() == list(CUTOFFS[1:])
    assert choice["n_cells"].tolist() == [1, 3, 5, 7, 9, 11, 13]
    assert choice["champion"].tolist() == ["A", "A", "A", "A", "A", "A", "B"]
    assert choice["ranked"].iloc[-1] == ("B", "A")


def test_no_cell_helps_choose_for_a_fold_before_it_is_realised():
    """Strict: rewrite every cell not yet realised at c (ds > c, of any fold) and every
    forecast of it; the choice at c must not move. Fails if the rule leaks even one month."""
    rng = np.random.default_rng(0)
    errors = {m: rng.normal(0, 5, (len(CUTOFFS), H)) for m in ("A", "B", "C")}
    base = backtest_frame(errors, ids=("DE", "US"))
    reference = choice_at_cutoffs(base, models=["A", "B", "C"], rule=SelectionRule(top_k=2))
    moved = 0
    for c in CUTOFFS:
        shaken = base.copy()
        future = shaken["ds"] > c
        shaken.loc[future, "y"] = rng.uniform(0, 1000, int(future.sum()))
        for m in ("A", "B", "C"):
            shaken.loc[future, m] = rng.uniform(0, 1000, int(future.sum()))
        again = choice_at_cutoffs(shaken, models=["A", "B", "C"], rule=SelectionRule(top_k=2))
        pd.testing.assert_frame_equal(again[again["cutoff"] == c].reset_index(drop=True),
                                      reference[reference["cutoff"] == c].reset_index(drop=True))
        moved += not again.drop(columns="weights").equals(reference.drop(columns="weights"))
    assert moved > 0  # the shaking did change later choices: the test can see a leak
    # a partial fold counts: make C perfect on the only realised cell of the fold at c - 1
    c = CUTOFFS[5]
    partial = base.copy()
    cell = (partial["cutoff"] == CUTOFFS[4]) & (partial["ds"] == c)
    partial.loc[cell, "C"] = partial.loc[cell, "y"]
    partial.loc[cell, ["A", "B"]] += 500.0
    got = choice_at_cutoffs(partial, models=["A", "B", "C"], rule=SelectionRule(top_k=2))
    assert got.loc[got["cutoff"] == c, "champion"].tolist() == ["C", "C"]
    assert reference.loc[reference["cutoff"] == c, "champion"].tolist() != ["C", "C"]


def test_champion_mae_equals_the_always_better_model():
    rng = np.random.default_rng(1)
    small = rng.uniform(-3, 3, (len(CUTOFFS), H))
    big = np.sign(rng.uniform(-1, 1, (len(CUTOFFS), H))) * (np.abs(small) + rng.uniform(1, 4))
    bt = backtest_frame({"B": big, "A": small}, ids=("DE", "JP"))
    choice = choice_at_cutoffs(bt, models=["B", "A"])
    out = add_champion_and_ensemble(bt, choice, models=["B", "A"])
    scored = out["Champion"].notna()
    assert scored.sum() == 2 * H * (len(CUTOFFS) - 1)
    assert (out.loc[~scored, "cutoff"] == CUTOFFS[0]).all()
    assert out.loc[~scored, model_columns("Ensemble")].isna().all().all()
    mae = (out.loc[scored, ["Champion", "A", "B"]].sub(out.loc[scored, "y"], axis=0)).abs().mean()
    assert mae["Champion"] == pytest.approx(mae["A"]) and mae["A"] < mae["B"]
    np.testing.assert_array_equal(out.loc[scored, model_columns("Champion")].to_numpy(),
                                  out.loc[scored, model_columns("A")].to_numpy())
    np.testing.assert_allclose(out.loc[scored, "Ensemble"],
                               (out.loc[scored, "A"] + out.loc[scored, "B"]) / 2)


def test_only_cells_of_the_score_on_scope_rank():
    reported = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([2] * 8)})
    estimated = backtest_frame({"A": per_fold([50] * 8), "B": per_fold([0] * 8)},
                               status="estimated")
    only_estimated = backtest_frame({"A": per_fold([50] * 8), "B": per_fold([0] * 8)},
                                    ids=("VN",), status="estimated")
    bt = pd.concat([reported, estimated, only_estimated], ignore_index=True)
    strict = final_choice(bt, models=["A", "B"]).set_index("unique_id")
    assert strict.loc["DE", ["champion", "n_cells"]].tolist() == ["A", 16]
    assert "VN" not in strict.index  # no scored cell: no choice (the job uses the baseline)
    loose = final_choice(bt, models=["A", "B"], rule=SelectionRule(score_on="all")
                         ).set_index("unique_id")
    assert loose.loc["DE", ["champion", "n_cells"]].tolist() == ["B", 32]
    derived = backtest_frame({"A": per_fold([50] * 8), "B": per_fold([0] * 8)},
                             ids=("VN",), status="derived")
    bt = pd.concat([reported, derived], ignore_index=True)
    assert final_choice(bt, models=["A", "B"]).set_index("unique_id").loc[
        "VN", "champion"] == "B"  # reported_derived (the default) counts derived cells
    assert "VN" not in final_choice(bt, models=["A", "B"], rule=SelectionRule(
        score_on="reported"))["unique_id"].tolist()


def test_metric_choice_and_ties_go_to_the_first_listed_model():
    bt = backtest_frame({"A": per_fold([0, 0, 0, 9, 0, 0, 0, 9]), "B": per_fold([3] * 8),
                         "N": per_fold([3] * 8)})
    assert final_choice(bt, models=["A", "B"])["champion"].item() == "A"
    assert final_choice(bt, models=["A", "B"], rule=SelectionRule(metric="rmse")
                        )["champion"].item() == "B"
    assert final_choice(bt, models=["N", "B", "A"], rule=SelectionRule(top_k=2)
                        )["ranked"].item() == ("A", "N")
    for bad, match in (({"metric": "mape"}, "metric 'mape' not in"),
                       ({"scope": "region"}, "scope 'region' not in"),
                       ({"weights": "softmax"}, "weights 'softmax' not in"),
                       ({"shrink": 1.5}, "shrink must be in"), ({"top_k": 0}, "top_k")):
        with pytest.raises(ValueError, match=match):
            SelectionRule(**bad)


def test_cells_missing_a_model_are_left_out_of_every_models_score():
    bt = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([2] * 8)})
    bt.loc[bt["cutoff"] == CUTOFFS[0], "B"] = np.nan
    bt.loc[bt["cutoff"] == CUTOFFS[0], "A"] = 500.0
    choice = choice_at_cutoffs(bt, models=["A", "B"])
    assert choice["cutoff"].min() == CUTOFFS[2] and choice["champion"].unique().tolist() == ["A"]


def test_final_choice_uses_every_fold_and_applies_to_a_forecast_frame():
    choice = final_choice(backtest_frame(A_THEN_B, ids=("DE", "US")), models=["A", "B"])
    assert choice.columns.tolist() == ["unique_id", "champion", "ranked", "weights", "n_cells"]
    assert choice["champion"].tolist() == ["B", "B"] and choice["n_cells"].tolist() == [16, 16]
    fcst = backtest_frame(A_THEN_B, ids=("DE", "US")).drop(
        columns=["cutoff", "y", "status", "horizon"]).head(3)
    out = apply_choice(fcst, choice, models=["A", "B"])
    np.testing.assert_array_equal(out[model_columns("Champion")].to_numpy(),
                                  fcst[model_columns("B")].to_numpy())
    with pytest.raises(ValueError, match="use choice_at_cutoffs"):
        add_champion_and_ensemble(backtest_frame(A_THEN_B), choice, models=["A", "B"])


def test_ensemble_is_the_median_of_the_top_k_with_ordered_bounds():
    fcst = pd.DataFrame({"unique_id": ["DE", "US", "JP"], "ds": pd.Timestamp("2026-01-01")})
    for model, point, lo80 in (("A", 10.0, 25.0), ("B", 20.0, 25.0), ("C", 30.0, 5.0)):
        fcst[model] = point
        fcst[f"{model}-lo-80"], fcst[f"{model}-hi-80"] = lo80, point + 10
    choice = pd.DataFrame({"unique_id": ["DE", "US"], "champion": ["B", "C"],
                           "ranked": [("B", "A", "C"), ("C", "A")],
                           "weights": [(1 / 3,) * 3, (0.5, 0.5)], "n_cells": [4, 4]})
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
    ranked = final_choice(bt, models=["A", "Routed", "B", "C"])["ranked"].item()
    assert ranked == ("A", "B", "C")


def pooled_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """BIG (scale 1000): A misses by 100, B by 200; S1..S3 (scale 1): A by 2, B by 1."""
    big = backtest_frame({"A": per_fold([100] * 8), "B": per_fold([200] * 8)}, ids=("BIG",),
                         y=10_000.0)
    small = backtest_frame({"A": per_fold([2] * 8), "B": per_fold([1] * 8)},
                           ids=("S1", "S2", "S3"))
    bt = pd.concat([big, small], ignore_index=True)
    scale = bt[["unique_id", "cutoff"]].drop_duplicates().assign(
        scale=lambda d: np.where(d["unique_id"] == "BIG", 1000.0, 1.0))
    return bt, scale


def test_pooled_scope_ranks_on_mase_scaled_errors_so_big_series_do_not_dominate():
    bt, scale = pooled_panel()
    per_series = final_choice(bt, models=["A", "B"], scale=scale).set_index("unique_id")
    assert per_series["champion"].to_dict() == {"BIG": "A", "S1": "B", "S2": "B", "S3": "B"}
    pooled = final_choice(bt, models=["A", "B"], scale=scale, rule=SelectionRule(scope="all"))
    # scaled: A (0.1 + 3 x 2) / 4 = 1.525, B (0.2 + 3 x 1) / 4 = 0.8; in tonnes A would win
    assert pooled["champion"].tolist() == ["B"] * 4
    assert pooled["n_cells"].tolist() == [4 * 16] * 4
    unscaled = final_choice(bt, models=["A", "B"], rule=SelectionRule(scope="all"))
    assert unscaled["champion"].tolist() == ["A"] * 4
    # shrink 0 is the per-series choice
    none = final_choice(bt, models=["A", "B"], scale=scale,
                        rule=SelectionRule(scope="all", shrink=0.0))
    pd.testing.assert_frame_equal(none.drop(columns="n_cells"),
                                  per_series.reset_index().drop(columns="n_cells"))


def test_group_scope_pools_within_each_group_and_covers_series_without_cells():
    bt, scale = pooled_panel()
    groups = pd.DataFrame({"unique_id": ["BIG", "S1", "S2", "S3", "NEW"],
                           "group": ["g1", "g1", "g2", "g2", "g1"]})
    # g1: A (0.1 + 2) / 2 = 1.05 vs B (0.2 + 1) / 2 = 0.6 -> B; g2: B
    new = backtest_frame({"A": per_fold([2] * 8), "B": per_fold([1] * 8)}, ids=("NEW",),
                         status="estimated")
    bt = pd.concat([bt, new], ignore_index=True)
    got = final_choice(bt, models=["A", "B"], scale=scale, groups=groups,
                       rule=SelectionRule(scope="group")).set_index("unique_id")
    assert got["champion"].to_dict() == {"BIG": "B", "NEW": "B", "S1": "B", "S2": "B",
                                         "S3": "B"}
    assert got["n_cells"].to_dict() == {"BIG": 32, "NEW": 32, "S1": 32, "S2": 32, "S3": 32}
    blend = final_choice(bt, models=["A", "B"], scale=scale, groups=groups,
                         rule=SelectionRule(scope="group", shrink=0.2)).set_index("unique_id")
    # BIG: A 0.8 x 0.1 + 0.2 x 1.05 = 0.29 against B 0.8 x 0.2 + 0.2 x 0.6 = 0.28 -> B
    assert blend.loc["BIG", "champion"] == "B"
    blend = final_choice(bt, models=["A", "B"], scale=scale, groups=groups,
                         rule=SelectionRule(scope="group", shrink=0.1)).set_index("unique_id")
    # BIG: 0.9 x 0.1 + 0.1 x 1.05 = 0.195 < 0.9 x 0.2 + 0.1 x 0.6 = 0.24 -> A
    assert blend.loc["BIG", "champion"] == "A"
    with pytest.raises(ValueError, match="needs the series' groups"):
        final_choice(bt, models=["A", "B"], rule=SelectionRule(scope="group"))


def test_inverse_error_weights_give_a_weighted_mean_ensemble():
    bt = backtest_frame({"A": per_fold([1] * 8), "B": per_fold([3] * 8), "C": per_fold([-9] * 8)})
    choice = final_choice(bt, models=["A", "B", "C"], rule=SelectionRule(
        top_k=2, weights="inverse_error"))
    assert choice["ranked"].item() == ("A", "B")
    np.testing.assert_allclose(choice["weights"].item(), (0.75, 0.25))
    out = apply_choice(bt, choice, models=["A", "B", "C"])
    np.testing.assert_allclose(out["Ensemble"], 0.75 * bt["A"] + 0.25 * bt["B"])
    np.testing.assert_allclose(out["Ensemble-hi-80"], 0.75 * bt["A-hi-80"] + 0.25 * bt["B-hi-80"])
    equal = apply_choice(bt, final_choice(bt, models=["A", "B", "C"]), models=["A", "B", "C"])
    np.testing.assert_allclose(equal["Ensemble"], bt["A"])  # median of A, B, C
