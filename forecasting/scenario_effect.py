"""The effect of a policy scenario on exports, learnt from history, as a forecast multiplier.

Most models of the suite are univariate: they extrapolate the history and know nothing of
licences. A scenario therefore enters the published forecast through one small, explicit
model fitted on the panel up to `as_of`: the year-on-year log change of each series,

    log1p(y_t) - log1p(y_{t-12}) = a + sum_f b_f (x_f,t - x_f,t-12) + e_t,

where x are the policy features of the series (`pol_ramp`: tightening in force, phased in;
`pol_decay`: easing; `pol_pending`: announced, not yet in force), as known at month t.
Ridge keeps the coefficients small where the history says little. The forecast under
scenario S is the chosen model's forecast times exp(sum_f b_f (x_f,S(t) - x_f,R(t))), R the
reference scenario (status_quo by default): the reference gets multiplier 1, so the
scenarios differ only where their policy paths differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from forecasting.features.policy import build_policy
from forecasting.schema import ID_COL, REPORTED, SEASON_LENGTH, STATUS_COL, TARGET_COL, TIME_COL

KEYS = [ID_COL, TIME_COL]


class PolicyEffect:
    """Ridge regression of year-on-year log change on year-on-year policy-feature change."""

    def __init__(self, features: Sequence[str] = ("pol_ramp",), alpha: float = 1.0,
                 events: pd.DataFrame | None = None, only_reported: bool = True) -> None:
        self.features = features
        self.alpha = alpha
        self.events = events
        self.only_reported = only_reported

    def fit(self, panel: pd.DataFrame, *, as_of: pd.Timestamp) -> PolicyEffect:
        """Fit on every series-month up to `as_of` with a value a year earlier."""
        train, _ = build_policy(panel, h=1, as_of=as_of, events=self.events)
        frame = panel.merge(train, on=KEYS).sort_values(KEYS)
        cols = list(self.features)
        lagged = frame.groupby(ID_COL)[[TARGET_COL, *cols]].shift(SEASON_LENGTH)
        target = np.log1p(frame[TARGET_COL]) - np.log1p(lagged[TARGET_COL])
        x = frame[cols] - lagged[cols]
        ok = target.notna() & x.notna().all(axis=1)
        if self.only_reported:  # the target month must be a reported figure, not an estimate
            ok &= frame[STATUS_COL].eq(REPORTED)
        self.n_rows_ = int(ok.sum())
        coef = np.zeros(len(cols))  # no reported month to learn from: no scenario effect
        if self.n_rows_ > 0:
            coef = Ridge(alpha=self.alpha).fit(x.loc[ok].to_numpy(),
                                               target.loc[ok].to_numpy()).coef_
        self.coef_ = dict(zip(cols, coef.tolist(), strict=True))
        self.as_of_ = as_of
        return self

    def multiplier(self, panel: pd.DataFrame, *, h: int, scenario: object,
                   reference: object) -> pd.DataFrame:
        """unique_id, ds, multiplier for the h months after the fitted `as_of`."""
        cols = list(self.features)
        _, fut_s = build_policy(panel, h=h, as_of=self.as_of_, scenario=scenario,
                                events=self.events)
        _, fut_r = build_policy(panel, h=h, as_of=self.as_of_, scenario=reference,
                                events=self.events)
        both = fut_s[[*KEYS, *cols]].merge(fut_r[[*KEYS, *cols]], on=KEYS, suffixes=("", "_ref"))
        delta = both[cols].to_numpy() - both[[f"{c}_ref" for c in cols]].to_numpy()
        both["multiplier"] = np.exp(delta @ np.array(list(self.coef_.values())))
        return both[[*KEYS, "multiplier"]]


def apply_multiplier(frame: pd.DataFrame, mult: pd.DataFrame, columns: Sequence[str],
                     ) -> pd.DataFrame:
    """Scale point and interval `columns` of a forecast frame by the scenario multiplier."""
    out = frame.merge(mult, on=KEYS, how="left")
    factor = out.pop("multiplier").fillna(1.0).to_numpy()
    for col in columns:
        out[col] = out[col] * factor
    return out
