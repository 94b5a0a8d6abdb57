"""Conformal width calibration: factors, per-side stretching, prior-fold honesty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.calibration import (
    MIN_CELLS,
    calibrate_backtest,
    factors,
    required_factor,
    stretch,
)
from forecasting.schema import CUTOFF_COL, ID_COL, TIME_COL


def fake_backtest(n_folds: int = 8, per_fold: int = 10, seed: int = 0) -> pd.DataFrame:
    """Model M with unit-half-width intervals around 100; actuals miss mostly on the low side."""
    rng = np.random.default_rng(seed)
    rows = []
    cutoffs = pd.date_range("2020-01-01", periods=n_folds, freq="MS")
    for c in cutoffs:
        y = 100 + rng.normal(0, 1, per_fold) - rng.exponential(3, per_fold)
        rows.append(pd.DataFrame({ID_COL: [f"S{i}" for i in range(per_fold)],
                                  TIME_COL: c + pd.DateOffset(months=1), CUTOFF_COL: c,
                                  "horizon": 1, "y": y, "status": "reported", "M": 100.0,
                                  "M-lo-80": 99.0, "M-hi-80": 101.0, "M-lo-95": 98.0,
                                  "M-hi-95": 102.0}))
    return pd.concat(rows, ignore_index=True)


def test_required_factor_per_cell() -> None:
    got = required_factor(np.array([2.0, -1.0, 0.0, 3.0]), np.array([1.0, 1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(got, [2.0, 0.0, 0.0, np.inf])


def test_factors_give_nominal_coverage_per_side() -> None:
    bt = fake_backtest()
    fac = factors(bt, models=["M"], levels=(80, 95))
    assert fac[("M", 80)].shape == (1,) and fac[("M", 80)][0] > 1  # widens the unit intervals
    out = stretch(bt, fac)
    inside = (out["M-lo-80"] <= out["y"]) & (out["y"] <= out["M-hi-80"])
    assert 0.79 <= inside.mean() <= 0.86
    inside95 = (out["M-lo-95"] <= out["y"]) & (out["y"] <= out["M-hi-95"])
    assert 0.94 <= inside95.mean() <= 0.99
    assert (out["M-lo-95"] <= out["M-lo-80"]).all() and (out["M-hi-95"] >= out["M-hi-80"]).all()


def test_each_fold_learns_only_from_cells_realised_by_its_cutoff() -> None:
    bt = fake_backtest()
    calibrated = calibrate_backtest(bt, models=["M"])
    last = bt[CUTOFF_COL].max()
    changed = bt.copy()
    changed.loc[changed[CUTOFF_COL] == last, "y"] -= 50  # the scored fold itself
    again = calibrate_backtest(changed, models=["M"])
    cols = ["M-lo-80", "M-hi-80", "M-lo-95", "M-hi-95"]
    pd.testing.assert_frame_equal(calibrated[cols], again[cols])
    first = bt[CUTOFF_COL] == bt[CUTOFF_COL].min()  # no earlier fold: own intervals kept
    pd.testing.assert_frame_equal(calibrated.loc[first, cols], bt.loc[first, cols])
    assert not calibrated.loc[~first, "M-lo-80"].equals(bt.loc[~first, "M-lo-80"])


def test_lower_bound_clipped_at_zero() -> None:
    bt = fake_backtest()
    fac = {("M", 80): np.array([500.0]), ("M", 95): np.array([500.0])}
    out = stretch(bt, fac)
    assert (out["M-lo-80"] == 0).all()
    assert out["M-hi-80"].tolist() == pytest.approx([600.0] * len(out))


def test_a_factor_per_horizon_step_borrowing_and_extrapolating_the_last() -> None:
    """Misses grow with the step: 1 month ahead within the band, 2 months 3x outside it;
    step 3 has too few cells and borrows the pooled factor; beyond the backtest, the last."""
    rng = np.random.default_rng(1)
    parts = []
    for step, n, spread in ((1, 40, 0.5), (2, 40, 3.0), (3, MIN_CELLS - 1, 3.0)):
        y = 100 + spread * rng.uniform(-1, 1, n)
        parts.append(pd.DataFrame({ID_COL: [f"S{i}" for i in range(n)], "horizon": step,
                                   "y": y, "status": "reported", "M": 100.0, "M-lo-80": 99.0,
                                   "M-hi-80": 101.0, "M-lo-95": 98.0, "M-hi-95": 102.0}))
    cells = pd.concat(parts, ignore_index=True)
    k = factors(cells, models=["M"], levels=(80,))[("M", 80)]
    assert k.shape == (3,)
    assert k[0] < 0.5 < 2.0 < k[1] <= 3.0  # 80% quantile of |u| x spread: 0.4 and 2.4
    need = np.abs(cells["y"] - 100).to_numpy()
    assert k[2] == pytest.approx(np.quantile(need, 0.8, method="higher"))
    future = pd.DataFrame({"M": 100.0, "M-lo-80": 99.0, "M-hi-80": 101.0, "M-lo-95": 98.0,
                           "M-hi-95": 102.0}, index=range(5))
    out = stretch(future, {("M", 80): k}, horizon=pd.Series([1, 2, 3, 4, 12]))
    np.testing.assert_allclose(out["M-hi-80"] - 100, [k[0], k[1], k[2], k[2], k[2]])
