"""Tests of the feature pipeline: registry, composition, errors and end-to-end no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.drivers import load_demand_drivers
from forecasting.features.calendar_features import CALENDAR_COLUMNS, build_calendar
from forecasting.features.history import build_history
from forecasting.features.pipeline import (
    BUILDERS,
    FEATURE_SETS,
    build_features,
    resolve_builders,
)

KEYS = ["unique_id", "ds"]
AS_OF = pd.Timestamp("2022-06-01")


def test_registry_and_feature_sets():
    assert set(BUILDERS) == {"history", "calendar", "drivers", "policy"}
    assert FEATURE_SETS["history"] == ("history", "calendar")
    assert FEATURE_SETS["history_policy"] == ("history", "calendar", "policy")
    assert FEATURE_SETS["full"] == ("history", "calendar", "policy", "drivers")
    assert all(set(names) <= set(BUILDERS) for names in FEATURE_SETS.values())


def test_resolve_builders_forms():
    assert resolve_builders("history") == {"history": {}, "calendar": {}}
    assert resolve_builders(["calendar"]) == {"calendar": {}}
    assert resolve_builders({"history": {"lags": [1]}, "calendar": None}) == {
        "history": {"lags": [1]}, "calendar": {}}


def test_unknown_builder_or_set_raises_naming_it(panel):
    with pytest.raises(ValueError, match=r"unknown feature builder\(s\) \['weather'\]"):
        build_features(panel, builders=["history", "weather"], h=3, as_of=AS_OF)
    with pytest.raises(ValueError, match="unknown feature set 'everything'"):
        build_features(panel, builders="everything", h=3, as_of=AS_OF)


def test_merges_builders_with_params(panel):
    train, future = build_features(panel, builders={"history": {"lags": (1, 12), "windows": (3,)},
                                                    "calendar": {}}, h=4, as_of=AS_OF)
    hist_train, hist_future = build_history(panel, h=4, as_of=AS_OF, lags=(1, 12), windows=(3,))
    cal_train, _ = build_calendar(panel, h=4, as_of=AS_OF)
    assert list(train.columns) == [*hist_train.columns, *CALENDAR_COLUMNS]
    assert "lag2" not in train.columns
    pd.testing.assert_frame_equal(train[hist_train.columns], hist_train)
    pd.testing.assert_frame_equal(train[cal_train.columns], cal_train)
    pd.testing.assert_frame_equal(future[hist_future.columns], hist_future)
    assert len(future) == 4 * 4 and future[list(CALENDAR_COLUMNS)].notna().all().all()
    expected = panel.loc[panel["ds"] <= AS_OF, KEYS].reset_index(drop=True)
    pd.testing.assert_frame_equal(train[KEYS], expected)


def test_feature_set_name_equals_its_builder_list(panel):
    by_name = build_features(panel, builders="history", h=2, as_of=AS_OF)
    by_list = build_features(panel, builders=["history", "calendar"], h=2, as_of=AS_OF)
    for a, b in zip(by_name, by_list, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_duplicate_feature_columns_rejected(panel, monkeypatch):
    monkeypatch.setitem(BUILDERS, "calendar_again", build_calendar)
    with pytest.raises(ValueError, match="'calendar_again' repeats feature column"):
        build_features(panel, builders=["calendar", "calendar_again"], h=2, as_of=AS_OF)


def test_pipeline_no_look_ahead(make_panel):
    panel = make_panel(n_series=3, months=48, estimated_frac=0.1)
    changed = panel.copy()
    late = changed["ds"] > AS_OF
    changed.loc[late, "y"] = changed.loc[late, "y"] * 10 + 5
    drivers = load_demand_drivers()
    later = drivers["period"].str[:4] >= "2022"            # all published after 2022-06
    changed_drivers = drivers.assign(value=drivers["value"].where(~later, 999.0))
    base = build_features(panel, builders={"history": {}, "calendar": {},
                                           "drivers": {"data": drivers}}, h=6, as_of=AS_OF)
    new = build_features(changed, builders={"history": {}, "calendar": {},
                                            "drivers": {"data": changed_drivers}},
                         h=6, as_of=AS_OF)
    for a, b in zip(base, new, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert base[1]["lag1"].iloc[1:6].isna().all()
    assert base[0]["drv_global_nev_penetration"].isna().all()    # first figure: 2022, from 2023


def test_full_set_with_policy_builder(make_panel):
    pytest.importorskip("forecasting.features.policy")
    panel = make_panel(n_series=2, start="2023-01", months=36)
    train, future = build_features(panel, builders="full", h=5, as_of="2025-06-01")
    assert len(future) == 3 * 5
    assert len(train) == 3 * 30
    no_policy, _ = build_features(panel, builders=["history", "calendar", "drivers"], h=5,
                                  as_of="2025-06-01")
    assert set(no_policy.columns) < set(train.columns)         # policy adds its own columns
    assert not train.columns.duplicated().any()
    assert np.array_equal(train[KEYS].to_numpy(),
                          train.sort_values(KEYS)[KEYS].to_numpy())
