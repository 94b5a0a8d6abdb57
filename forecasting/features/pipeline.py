"""Compose feature builders by name into one (train_df, future_df) pair."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from forecasting.features.base import KEYS, Builder, split_frame, to_month
from forecasting.features.calendar_features import build_calendar
from forecasting.features.drivers import build_drivers
from forecasting.features.history import build_history


def build_policy(panel: pd.DataFrame, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Policy-regime features: forecasting.features.policy.build_policy, imported on first use."""
    from forecasting.features.policy import build_policy as build

    return build(panel, **kwargs)


BUILDERS: dict[str, Builder] = {
    "history": build_history,
    "calendar": build_calendar,
    "drivers": build_drivers,
    "policy": build_policy,
}

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "history": ("history", "calendar"),
    "history_policy": ("history", "calendar", "policy"),
    "full": ("history", "calendar", "policy", "drivers"),
}


def resolve_builders(builders: str | Sequence[str] | Mapping[str, dict | None],
                     ) -> dict[str, dict]:
    """{builder name: params} from a FEATURE_SETS name, a list of names or a name -> params map."""
    if isinstance(builders, str):
        if builders not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {builders!r}; known: {sorted(FEATURE_SETS)}")
        builders = FEATURE_SETS[builders]
    spec = ({name: dict(params or {}) for name, params in builders.items()}
            if isinstance(builders, Mapping) else {name: {} for name in builders})
    unknown = [name for name in spec if name not in BUILDERS]
    if unknown:
        raise ValueError(f"unknown feature builder(s) {unknown}; known: {sorted(BUILDERS)}")
    return spec


def build_features(panel: pd.DataFrame, *,
                   builders: str | Sequence[str] | Mapping[str, dict | None], h: int,
                   as_of: pd.Timestamp | str, scenario=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the named builders (params per builder from a mapping) and merge on unique_id, ds.

    `builders` may also be a FEATURE_SETS name. Raises ValueError on an unknown builder or when
    two builders produce the same column.
    """
    as_of = to_month(as_of)
    train, future = split_frame(pd.DataFrame(columns=list(KEYS)), panel, h=h, as_of=as_of)
    for name, params in resolve_builders(builders).items():
        part_train, part_future = BUILDERS[name](panel, h=h, as_of=as_of, scenario=scenario,
                                                 **params)
        clash = sorted(set(part_train.columns).intersection(train.columns) - set(KEYS))
        if clash:
            raise ValueError(f"builder {name!r} repeats feature column(s) {clash}")
        train = train.merge(part_train, on=list(KEYS), how="left", validate="one_to_one")
        future = future.merge(part_future, on=list(KEYS), how="left", validate="one_to_one")
    return train, future
