"""Tests for the seasonal benchmark: sums and known months met, a known season recovered."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.data.benchmark import proportional_benchmark
from forecasting.data.seasonal import centred_trend, seasonal_benchmark

TRUE = np.array([1.02, 0.70, 1.00, 1.03, 1.01, 0.98, 1.04, 1.05, 1.03, 0.97, 1.02, 1.20])


def _synthetic(years: int = 6) -> tuple[np.ndarray, np.ndarray]:
    calendar = np.tile(np.arange(12), years)
    trend = 2000 * 1.08 ** (np.arange(12 * years) / 12)
    return calendar, trend * (TRUE / np.exp(np.log(TRUE).mean()))[calendar]


def _annual_sums(x: np.ndarray) -> list:
    return [(np.arange(12 * y, 12 * y + 12), np.ones(12), float(x[12 * y:12 * y + 12].sum()))
            for y in range(len(x) // 12)]


def _factors(calendar: np.ndarray, x: np.ndarray, where: np.ndarray) -> np.ndarray:
    ratio = np.log(x / centred_trend(x))
    return np.array([ratio[where & (calendar == m)].mean() for m in range(12)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_annual_sums_and_a_few_months_recover_the_seasonal_pattern(seed):
    calendar, x = _synthetic()
    rng = np.random.default_rng(seed)
    # two known months per calendar month, in random years: 24 of 72 months
    known = [12 * y + m for m in range(12) for y in rng.choice(6, size=2, replace=False)]
    fixed = {int(i): float(x[i]) for i in known}
    sums = _annual_sums(x)
    est, factors = seasonal_benchmark(calendar, fixed=fixed, sums=sums)
    flat, _ = seasonal_benchmark(calendar, fixed=fixed, sums=sums, rounds=0)
    for idx, _, total in sums:
        assert est[idx].sum() == pytest.approx(total, rel=1e-6)
    assert all(est[i] == v for i, v in fixed.items())
    assert np.corrcoef(np.log(factors), np.log(TRUE))[0, 1] > 0.9
    unknown = np.ones(len(x), dtype=bool)
    unknown[known] = False
    unknown[:6] = unknown[-6:] = False  # the moving average is centred only inside
    truth = _factors(calendar, x, unknown)
    assert np.corrcoef(_factors(calendar, est, unknown), truth)[0, 1] > 0.9
    # the flat Denton benchmark puts no season into the same months
    assert np.corrcoef(_factors(calendar, flat, unknown), truth)[0, 1] < 0.9
    assert np.mean(np.abs(est[unknown] / x[unknown] - 1)) < 0.5 * np.mean(
        np.abs(flat[unknown] / x[unknown] - 1))


def test_proportional_benchmark_follows_the_indicator_between_known_points():
    indicator = np.array([1.0, 2.0, 1.0, 2.0, 1.0])
    x = proportional_benchmark(indicator, fixed={0: 10.0, 4: 10.0}, sums=[])
    np.testing.assert_allclose(x, [10, 20, 10, 20, 10])
    with pytest.raises(ValueError, match="positive"):
        proportional_benchmark(np.array([1.0, 0.0]), fixed={0: 1.0}, sums=[])
