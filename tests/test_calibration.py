"""Conformal width calibration: factors, per-side stretching, prior-fold honesty."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.calibration import calibrate_backtest, factors, required_factor, stretch
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
    k_lo, k_hi = fac[("M", 80)]
    assert k_lo == k_hi > 1  # one factor, widening the too-narrow unit intervals
    out = stretch(bt, fac)
    inside = (out["M-lo-80"] <= out["y"]) & (out["y"] <= out["M-hi-80"])
    assert 0.79 <= inside.mean() <= 0.86
    inside95 = (out["M-lo-95"] <= out["y"]) & (out["y"] <= out["M-hi-95"])
    assert 0.94 <= inside95.mean() <= 0.99
    assert (out["M-lo-95"] <= out["M-lo-80"]).all() and (out["M-hi-95"] >= out["M-hi-80"]).all()


def test_each_fold_learns_only_from_folds_complete_before_it() -> None:
    bt = fake_backtest()
    calibrated = calibrate_backtest(bt, models=["M"], h=1)
    last = bt[CUTOFF_COL].max()
    changed = bt.copy()
    changed.loc[changed[CUTOFF_COL] == last, "y"] -= 50  # the scored fold itself
    again = calibrate_backtest(changed, models=["M"], h=1)
    cols = ["M-lo-80", "M-hi-80", "M-lo-95", "M-hi-95"]
    pd.testing.assert_frame_equal(calibrated[cols], again[cols])
    first = bt[CUTOFF_COL] == bt[CUTOFF_COL].min()  # no earlier fold: own intervals kept
    pd.testing.assert_frame_equal(calibrated.loc[first, cols], bt.loc[first, cols])
    assert not calibrated.loc[~first, "M-lo-80"].equals(bt.loc[~first, "M-lo-80"])


def test_lower_bound_clipped_at_zero() -> None:
    bt = fake_backtest()
    fac = {("M", 80): (500.0, 1.0), ("M", 95): (500.0, 1.0)}
    out = stretch(bt, fac)
    assert (out["M-lo-80"] == 0).all()
    assert out["M-hi-80"].tolist() == pytest.approx([101.0] * len(out))
