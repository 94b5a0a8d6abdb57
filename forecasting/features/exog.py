"""Known-ahead features as a numeric, gap-free regressor matrix for models such as ARIMA."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from forecasting.schema import ID_COL, TIME_COL

PAST_ONLY_BUILDERS = frozenset({"history"})


def known_ahead_features(panel: pd.DataFrame, *, feature_set: str | Mapping, h: int,
                         as_of: pd.Timestamp, scenario: object | None = None,
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and future regressors from the builders of `feature_set` that are known ahead.

    History features need future actuals, so they are left out; the rest (calendar, policy
    under the scenario, drivers carried forward) are numeric columns with gaps filled by the
    last known value, then 0, and columns constant over the training rows dropped (a constant
    regressor makes ARIMA's design matrix singular).
    """
    from forecasting.features.pipeline import build_features, resolve_builders

    builders = {name: params for name, params in resolve_builders(feature_set).items()
                if name not in PAST_ONLY_BUILDERS}
    train, future = build_features(panel, builders=builders, h=h, as_of=as_of,
                                   scenario=scenario)
    both = pd.concat([train.assign(_future=False), future.assign(_future=True)],
                     ignore_index=True).sort_values([ID_COL, TIME_COL])
    numeric = [c for c in both.columns
               if c not in (ID_COL, TIME_COL, "_future")
               and pd.api.types.is_numeric_dtype(both[c])]
    both[numeric] = both.groupby(ID_COL)[numeric].ffill().fillna(0.0).astype(float)
    varying = [c for c in numeric if both.loc[~both["_future"], c].nunique() > 1]
    cols = [ID_COL, TIME_COL, *varying]
    return (both.loc[~both["_future"], cols].reset_index(drop=True),
            both.loc[both["_future"], cols].reset_index(drop=True))
