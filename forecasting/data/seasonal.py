"""Monthly series from sparse figures that keep the seasons: a calendar-month profile learnt
from the known months, imposed by Denton-Cholette proportional benchmarking.

The profile is X-11 in spirit: the ratio of each known month to a centred 2x12 moving average
of the completed series, its median per calendar month, shrunk toward 1 when few months back
it, normalised to a geometric mean of 1. The completed series is first the flat Denton
benchmark, then the seasonal one; a few rounds let the profile and the trend settle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forecasting.data.benchmark import SumConstraint, benchmark, proportional_benchmark

ROUNDS = 3
SHRINK = 1.0  # pseudo-count of months with factor 1 added to each calendar month


def centred_trend(x: np.ndarray) -> np.ndarray:
    """Centred 2x12 moving average; the first/last full value is carried to the edges."""
    x = np.asarray(x, dtype=float)
    if len(x) < 13:
        return np.full(len(x), x.mean())
    weights = np.r_[0.5, np.ones(11), 0.5] / 12
    inner = np.convolve(x, weights, mode="valid")  # centred at positions 6 .. n-7
    return np.r_[np.full(6, inner[0]), inner, np.full(6, inner[-1])]


def seasonal_factors(calendar: np.ndarray, x: np.ndarray, known: np.ndarray,
                     *, shrink: float = SHRINK) -> np.ndarray:
    """Twelve multiplicative factors (geometric mean 1) from the known months of `x`."""
    calendar = np.asarray(calendar, dtype=int)
    log_ratio = np.log(np.asarray(x, float) / centred_trend(x))
    logs = np.zeros(12)
    for m in range(12):
        values = log_ratio[known & (calendar == m)]
        if values.size:
            logs[m] = np.median(values) * values.size / (values.size + shrink)
    return np.exp(logs - logs.mean())


def seasonal_benchmark(calendar: np.ndarray, *, fixed: dict[int, float],
                       sums: Sequence[SumConstraint], penalties: Sequence[float] | None = None,
                       unseasonal: Sequence[int] = (), rounds: int = ROUNDS,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(series, its 12 seasonal factors): fixed months and sums met, the rest seasonal.

    `calendar` holds the calendar month (0-11) of each position; fixed positions listed in
    `unseasonal` (a policy shock) are met but not learnt from; with rounds=0 this is the flat
    (additive first-difference) Denton benchmark and the factors are all 1.
    """
    calendar = np.asarray(calendar, dtype=int)
    x = benchmark(len(calendar), fixed=fixed, sums=sums, penalties=penalties)
    known = np.zeros(len(calendar), dtype=bool)
    known[list(fixed)] = True
    known[list(unseasonal)] = False
    factors = np.ones(12)
    for _ in range(rounds):
        factors = seasonal_factors(calendar, x, known)
        x = proportional_benchmark(factors[calendar], fixed=fixed, sums=sums,
                                   penalties=penalties)
    return x, factors
