"""Denton first-difference benchmarking: additive (flat indicator) and proportional.

Find x (length n) minimising

    sum_t (x_t - x_{t-1})^2  +  penalty * sum_k ((w_k . x[idx_k] - total_k) / |total_k|)^2

subject to x_t = fixed_t for the fixed (reported) positions. The sums (year-to-date or annual
totals, possibly weighted) are soft: heavily penalised relative errors, so that sources which
disagree by rounding still give a solution. Solved as one linear least-squares system
(np.linalg.lstsq on the stacked rows, which squares the condition number less than the normal
equations would) after scaling x to order one, so `penalty` means the same whatever the units.

References: Denton, F. T. (1971), "Adjustment of monthly or quarterly series to annual totals:
an approach based on quadratic minimization", JASA 66(333); Boot, J. C. G., Feibes, W. and
Lisman, J. H. C. (1967), "Further methods of derivation of quarterly figures from annual data",
Applied Statistics 16(1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SumConstraint = tuple[np.ndarray, np.ndarray, float]

DEFAULT_PENALTY = 1e8


def benchmark(n: int, *, fixed: dict[int, float], sums: Sequence[SumConstraint],
              penalty: float = DEFAULT_PENALTY,
              penalties: Sequence[float] | None = None) -> np.ndarray:
    """Smoothest series (first differences) with `fixed` positions held and `sums` (soft) met.

    `penalties` (one per sum, default `penalty` for all) lets looser sums give way first.
    """
    if n < 1:
        raise ValueError("benchmark needs n >= 1")
    if any(not 0 <= i < n for i in fixed):
        raise ValueError(f"fixed positions must lie in [0, {n})")
    if not fixed and not sums:
        raise ValueError("nothing pins the level: give at least one fixed value or one sum")
    scale = max([abs(v) for v in fixed.values()]
                + [abs(t) / max(np.abs(np.asarray(w, float)).sum(), 1e-12) for _, w, t in sums]
                + [1.0])
    x_fixed = np.zeros(n)
    is_fixed = np.zeros(n, dtype=bool)
    for i, v in fixed.items():
        x_fixed[i], is_fixed[i] = v / scale, True
    free = np.flatnonzero(~is_fixed)
    if free.size == 0:
        return np.array([fixed[i] for i in range(n)], dtype=float)
    # Least-squares rows: first differences, then the weighted relative sum errors.
    diff = np.diff(np.eye(n), axis=0)
    rows, rhs = [diff], [np.zeros(n - 1)]
    weights = [penalty] * len(sums) if penalties is None else list(penalties)
    if len(weights) != len(sums):
        raise ValueError("give one penalty per sum")
    for (idx, w, total), pen in zip(sums, weights, strict=True):
        idx, w = np.asarray(idx, dtype=int), np.asarray(w, dtype=float)
        if idx.shape != w.shape or idx.size == 0:
            raise ValueError("each sum needs equally long, non-empty index and weight arrays")
        denom = abs(total) / scale if total != 0 else np.abs(w).sum()
        row = np.zeros(n)
        np.add.at(row, idx, w / denom)
        rows.append(np.sqrt(pen) * row[None, :])
        rhs.append(np.sqrt(pen) * np.array([total / scale / denom]))
    a, b = np.vstack(rows), np.concatenate(rhs)
    a_free = a[:, free]
    b_free = b - a[:, is_fixed] @ x_fixed[is_fixed]
    solution, _, rank, _ = np.linalg.lstsq(a_free, b_free, rcond=None)
    if rank < free.size:
        raise ValueError("the fixed values and sums do not determine every position")
    x = x_fixed * scale
    x[free] = solution * scale
    for i, v in fixed.items():  # exactly as given, free of scaling round-off
        x[i] = v
    return x


def proportional_benchmark(indicator: np.ndarray, *, fixed: dict[int, float],
                           sums: Sequence[SumConstraint],
                           penalties: Sequence[float] | None = None) -> np.ndarray:
    """Denton-Cholette proportional benchmark: x = indicator * r with r as smooth as possible
    (first differences), `fixed` held and `sums` met; x keeps the indicator's movements
    wherever nothing is known (indicator > 0)."""
    s = np.asarray(indicator, dtype=float)
    if (s <= 0).any():
        raise ValueError("the indicator must be positive")
    ratio = benchmark(len(s), fixed={i: v / s[i] for i, v in fixed.items()},
                      sums=[(idx, np.asarray(w, float) * s[np.asarray(idx, int)], total)
                            for idx, w, total in sums], penalties=penalties)
    x = s * ratio
    for i, v in fixed.items():
        x[i] = v
    return x
