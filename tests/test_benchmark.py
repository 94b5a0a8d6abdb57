"""Tests for the Denton first-difference benchmarking solver."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.data.benchmark import benchmark


def test_linear_ramp_between_two_fixed_points():
    x = benchmark(6, fixed={0: 10.0, 5: 20.0}, sums=[])
    np.testing.assert_allclose(x, [10, 12, 14, 16, 18, 20], atol=1e-9)


def test_flat_outside_the_known_points():
    x = benchmark(7, fixed={2: 5.0, 4: 9.0}, sums=[])
    np.testing.assert_allclose(x, [5, 5, 5, 7, 9, 9, 9], atol=1e-9)


def test_single_missing_month_is_pinned_by_a_sum():
    fixed = {0: 100.0, 1: 120.0, 3: 90.0}
    x = benchmark(4, fixed=fixed, sums=[(np.arange(4), np.ones(4), 400.0)])
    assert x[2] == pytest.approx(90.0, abs=1e-4)
    assert all(x[i] == v for i, v in fixed.items())  # fixed values are returned exactly


def test_sum_only_gives_a_constant_series():
    x = benchmark(5, fixed={}, sums=[(np.arange(5), np.ones(5), 50.0)])
    np.testing.assert_allclose(x, 10.0, atol=1e-6)


def test_weighted_sum_recovers_a_share():
    # share_0 = 0.5 fixed; 0.5 * 100 + share_1 * 200 = 250  ->  share_1 = 1.0
    x = benchmark(2, fixed={0: 0.5}, sums=[(np.array([0, 1]), np.array([100.0, 200.0]), 250.0)])
    assert x[1] == pytest.approx(1.0, rel=1e-6)


def test_rounding_conflict_is_split_not_fatal():
    # months 0 and 1 fixed; two chained sums disagree by 1 on month 2
    sums = [(np.arange(2), np.ones(2), 20.0), (np.arange(3), np.ones(3), 31.0),
            (np.array([2]), np.ones(1), 12.0)]
    x = benchmark(3, fixed={0: 10.0, 1: 10.0}, sums=sums)
    assert 11.0 < x[2] < 12.0


def test_nested_sums_met_in_a_longer_series():
    sums = [(np.arange(6), np.ones(6), 60.0), (np.arange(12), np.ones(12), 180.0)]
    x = benchmark(12, fixed={}, sums=sums)
    assert x[:6].sum() == pytest.approx(60.0, rel=1e-6)
    assert x.sum() == pytest.approx(180.0, rel=1e-6)
    assert np.all(np.diff(x) >= -1e-9)  # smooth rise from the low half to the high half


def test_nothing_pins_the_level():
    with pytest.raises(ValueError, match="nothing pins the level"):
        benchmark(3, fixed={}, sums=[])


def test_fixed_position_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        benchmark(3, fixed={3: 1.0}, sums=[])
