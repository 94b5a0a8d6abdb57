"""Tests for forecasting.reconcile: coherence, the zero guard and the moved intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hierarchicalforecast.core import HierarchicalReconciliation

from forecasting.reconcile import METHODS as RECONCILERS
from forecasting.reconcile import hierarchy, interval_columns, reconcile

BOTTOM = {"DE": 900.0, "KR": 700.0, "US": 500.0, "OTHER": 0.5}
MONTHS = pd.date_range("2026-01-01", periods=12, freq="MS")
METHODS = ["bottom_up", "mint_ols", "mint_wls_struct", "mint_shrink"]


def base_forecasts(world_factor: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """Incoherent base forecasts: WORLD is `world_factor` times the sum of the bottom series."""
    rng = np.random.default_rng(seed)
    rows = []
    for uid, level in BOTTOM.items():
        for ds in MONTHS:
            rows.append((uid, ds, f"model_{uid}", level * rng.uniform(0.9, 1.1)))
    df = pd.DataFrame(rows, columns=["unique_id", "ds", "model", "forecast"])
    world = df.groupby("ds", as_index=False)["forecast"].sum()
    world["forecast"] *= world_factor
    world = world.assign(unique_id="WORLD", model="ensemble")
    df = pd.concat([df, world], ignore_index=True)
    lo95, lo80, hi80, hi95 = interval_columns()
    width = 0.1 * df["forecast"]
    df[lo80], df[hi80] = df["forecast"] - width, df["forecast"] + width
    df[lo95], df[hi95] = df["forecast"] - 2 * width, df["forecast"] + 2 * width
    return df


def insample_frame(seed: int = 1) -> pd.DataFrame:
    """36 months of actuals and fitted values; OTHER is zero-heavy (80% of months 0 t)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=36, freq="MS")
    parts = []
    for uid, level in BOTTOM.items():
        if uid == "OTHER":  # zeros with rare 30 t shipments, fitted as a flat 6 t
            y = np.where(rng.uniform(size=36) < 0.8, 0.0, 30.0)
            fitted = np.full(36, 6.0)
        else:
            y = level * rng.uniform(0.8, 1.2, 36)
            fitted = y + rng.normal(0, 0.05 * level, 36)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y, "forecast": fitted}))
    bottom = pd.concat(parts, ignore_index=True)
    world = bottom.groupby("ds", as_index=False)[["y", "forecast"]].sum().assign(unique_id="WORLD")
    world["forecast"] *= 1.03
    return pd.concat([bottom, world], ignore_index=True)


def gap(df: pd.DataFrame) -> float:
    """Largest |sum of bottom series - WORLD| over the months."""
    world = df[df.unique_id == "WORLD"].set_index("ds")["forecast"]
    bottom = df[df.unique_id != "WORLD"].groupby("ds")["forecast"].sum()
    return float((world - bottom).abs().max())


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_coherent_and_keeps_the_frame(method):
    base = base_forecasts()
    assert gap(base) > 100  # the input is clearly incoherent
    out = reconcile(base, method=method, insample=insample_frame())
    assert gap(out) < 1e-6
    assert list(out.columns) == list(base.columns)
    keys = ["unique_id", "ds", "model"]
    pd.testing.assert_frame_equal(out[keys], base[keys])
    assert (out["forecast"] >= 0).all()


def test_bottom_up_keeps_bottom_and_sums_world():
    base = base_forecasts()
    out = reconcile(base, method="bottom_up")
    bottom = base.unique_id != "WORLD"
    np.testing.assert_allclose(out.loc[bottom, "forecast"], base.loc[bottom, "forecast"])
    expected = base[bottom].groupby("ds")["forecast"].sum().to_numpy()
    np.testing.assert_allclose(out.loc[~bottom].sort_values("ds")["forecast"], expected)


def test_mint_ols_matches_closed_form_when_nothing_is_clipped():
    # OLS on a one-level hierarchy moves every bottom series by -(sum - WORLD) / (n_bottom + 1).
    base = base_forecasts(world_factor=0.999)
    out = reconcile(base, method="mint_ols")
    bottom_sum = base[base.unique_id != "WORLD"].groupby("ds")["forecast"].sum()
    world = base[base.unique_id == "WORLD"].set_index("ds")["forecast"]
    step = ((bottom_sum - world) / (len(BOTTOM) + 1)).rename("step")
    de = base[base.unique_id == "DE"].join(step, on="ds")
    np.testing.assert_allclose(out.loc[de.index, "forecast"], de["forecast"] - de["step"])


@pytest.mark.parametrize("method", ["mint_ols", "mint_wls_struct", "mint_shrink"])
def test_zero_heavy_series_is_clipped_not_negative(method):
    base = base_forecasts(world_factor=0.7)
    insample = insample_frame()
    # Without the guard, hierarchicalforecast's MinTrace pushes the 0.5 t OTHER series below 0.
    s_df, tags = hierarchy(base.unique_id)
    raw = HierarchicalReconciliation([RECONCILERS[method]()]).reconcile(
        Y_hat_df=base[["unique_id", "ds", "forecast"]], S_df=s_df, tags=tags,
        Y_df=insample[["unique_id", "ds", "y", "forecast"]])
    raw_col = raw.columns[-1]
    raw_other = raw.loc[raw.unique_id == "OTHER"].set_index("ds")[raw_col]
    assert (raw_other < 0).all()

    out = reconcile(base, method=method, insample=insample)
    assert (out["forecast"] >= 0).all()
    assert (out.loc[out.unique_id == "OTHER", "forecast"] == 0).all()
    assert gap(out) < 1e-6
    # The clipped mass is not lost: WORLD is the sum of the clipped bottom series, above raw.
    raw_world = raw.loc[raw.unique_id == "WORLD"].set_index("ds")[raw_col]
    out_world = out.loc[out.unique_id == "WORLD"].set_index("ds")["forecast"]
    np.testing.assert_allclose(out_world, raw_world - raw_other)


@pytest.mark.parametrize("method", METHODS)
def test_intervals_contain_point_and_are_non_negative(method):
    base = base_forecasts(world_factor=0.7)
    out = reconcile(base, method=method, insample=insample_frame())
    lo95, lo80, hi80, hi95 = interval_columns()
    assert (out[lo95] >= 0).all()
    assert (out[lo95] <= out[lo80]).all() and (out[lo80] <= out["forecast"]).all()
    assert (out["forecast"] <= out[hi80]).all() and (out[hi80] <= out[hi95]).all()
    # A large series keeps its interval widths: the interval moved with its point.
    de = out.unique_id == "DE"
    np.testing.assert_allclose(out.loc[de, hi95] - out.loc[de, "forecast"],
                               base.loc[de, hi95] - base.loc[de, "forecast"])
    np.testing.assert_allclose(out.loc[de, "forecast"] - out.loc[de, lo80],
                               base.loc[de, "forecast"] - base.loc[de, lo80])


def test_bottom_up_world_interval_is_shifted_to_the_reconciled_point():
    base = base_forecasts()
    out = reconcile(base, method="bottom_up")
    world = out.unique_id == "WORLD"
    shift = out.loc[world, "forecast"] - base.loc[world, "forecast"]
    _, _, hi80, _ = interval_columns()
    np.testing.assert_allclose(out.loc[world, hi80], base.loc[world, hi80] + shift)


def test_bad_method_and_missing_insample_are_rejected():
    base = base_forecasts()
    with pytest.raises(ValueError, match="unknown reconciliation method 'mint'"):
        reconcile(base, method="mint")
    with pytest.raises(ValueError, match="needs `insample`"):
        reconcile(base, method="mint_shrink")
    with pytest.raises(ValueError, match="'WORLD'"):
        reconcile(base[base.unique_id != "WORLD"])
    with pytest.raises(ValueError, match="same forecast months"):
        reconcile(base.drop(index=base.index[0]))


def test_row_order_and_index_do_not_change_the_result():
    base = base_forecasts(world_factor=0.7)
    expected = reconcile(base, method="mint_shrink", insample=insample_frame())
    shuffled = reconcile(base.sample(frac=1.0, random_state=3), method="mint_shrink",
                         insample=insample_frame().sample(frac=1.0, random_state=4))
    pd.testing.assert_frame_equal(shuffled.sort_index(), expected)
