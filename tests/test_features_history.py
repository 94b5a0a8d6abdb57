"""Tests of the export-history feature builder: hand-checked values, future rows, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.features.history import build_history

KEYS = ["unique_id", "ds"]


def tiny_panel(values: dict[str, list[float]], start: str = "2020-01-01",
               estimated: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """Long panel from {unique_id: y values}; `estimated` gives positions flagged estimated."""
    frames = []
    for uid, ys in values.items():
        status = np.array(["reported"] * len(ys), dtype=object)
        status[(estimated or {}).get(uid, [])] = "estimated"
        frames.append(pd.DataFrame({"unique_id": uid, "y": np.asarray(ys, dtype=float),
                                    "ds": pd.date_range(start, periods=len(ys), freq="MS"),
                                    "status": status}))
    return pd.concat(frames, ignore_index=True)[["unique_id", "ds", "y", "status"]]


def row(df: pd.DataFrame, uid: str, ds: str) -> pd.Series:
    return df.loc[(df["unique_id"] == uid) & (df["ds"] == pd.Timestamp(ds))].iloc[0]


def test_lags_and_rolling_match_hand_computation():
    panel = tiny_panel({"A": [10, 20, 30, 40, 50, 70]})
    train, _ = build_history(panel, h=1, as_of="2020-06-01", lags=(1, 2), windows=(3,))
    assert train["lag1"].tolist()[1:] == [10, 20, 30, 40, 50]
    assert np.isnan(train["lag1"].iloc[0])
    assert train["lag2"].tolist()[2:] == [10, 20, 30, 40]
    may = row(train, "A", "2020-05-01")          # window y(Feb..Apr) = 20, 30, 40
    assert may["rolling_mean_3"] == pytest.approx(30.0)
    assert may["rolling_std_3"] == pytest.approx(10.0)
    june = row(train, "A", "2020-06-01")         # window 30, 40, 50
    assert june["rolling_mean_3"] == pytest.approx(40.0)
    assert train["rolling_mean_3"].isna().tolist() == [True] * 3 + [False] * 3
    assert "lag3" not in train.columns


def test_rolling_min_periods_accepts_partial_windows():
    panel = tiny_panel({"A": [10, np.nan, 30, 40]})
    strict, _ = build_history(panel, h=1, as_of="2020-04-01", lags=(1,), windows=(3,))
    loose, _ = build_history(panel, h=1, as_of="2020-04-01", lags=(1,), windows=(3,),
                             min_periods=2)
    assert np.isnan(row(strict, "A", "2020-04-01")["rolling_mean_3"])
    assert row(loose, "A", "2020-04-01")["rolling_mean_3"] == pytest.approx(20.0)


def test_yoy_uses_lag1_over_lag13_and_guards_zero():
    ys = [0.0, 50.0] + [1.0] * 10 + [100.0, 120.0, 1.0]
    train, _ = build_history(tiny_panel({"A": ys}), h=1, as_of="2021-03-01")
    # at 2021-02: y_{t-1} = y(2021-01) = 100 over y_{t-13} = y(2020-01) = 0 -> NaN, not inf
    assert np.isnan(row(train, "A", "2021-02-01")["yoy"])
    # at 2021-03: y(2021-02) = 120 over y(2020-02) = 50 -> +140%
    assert row(train, "A", "2021-03-01")["yoy"] == pytest.approx(1.4)
    assert train["yoy"].notna().sum() == 1       # needs 13 months, and 2021-02 is guarded


def test_share_of_world_is_lagged_and_world_is_one():
    panel = tiny_panel({"A": [10, 30, 0], "B": [30, 10, 0], "WORLD": [40, 40, 0]})
    train, _ = build_history(panel, h=1, as_of="2020-03-01", lags=(1,), windows=(3,))
    assert row(train, "A", "2020-02-01")["share_world"] == pytest.approx(0.25)
    assert row(train, "B", "2020-03-01")["share_world"] == pytest.approx(0.25)
    assert row(train, "WORLD", "2020-03-01")["share_world"] == pytest.approx(1.0)
    assert train.loc[train["ds"] == "2020-01-01", "share_world"].isna().all()


def test_share_of_world_nan_when_world_total_is_zero_or_absent():
    with_zero = tiny_panel({"A": [0, 5], "WORLD": [0, 5]})
    train, future = build_history(with_zero, h=1, as_of="2020-02-01", lags=(1,), windows=(3,))
    assert np.isnan(row(train, "A", "2020-02-01")["share_world"])
    assert row(future, "A", "2020-03-01")["share_world"] == pytest.approx(1.0)
    no_world, _ = build_history(tiny_panel({"A": [1, 2]}), h=1, as_of="2020-02-01")
    assert no_world["share_world"].isna().all()


def test_months_since_nonzero_on_intermittent_series():
    panel = tiny_panel({"A": [0, 5, 0, 0, 0, 7, 0, np.nan, 0]})
    train, future = build_history(panel, h=2, as_of="2020-09-01", lags=(1,), windows=(3,))
    got = train["months_since_nonzero"].tolist()
    assert np.isnan(got[0]) and np.isnan(got[1])     # nothing non-zero before t-1 yet
    assert got[2:] == [0, 1, 2, 3, 0, 1, 2]          # unreported (NaN) months do not reset
    assert future["months_since_nonzero"].iloc[0] == 3
    assert np.isnan(future["months_since_nonzero"].iloc[1])


def test_estimated_share_and_lag1_flag():
    panel = tiny_panel({"A": list(range(1, 15))}, estimated={"A": [0, 3, 12]})
    train, _ = build_history(panel, h=1, as_of="2021-02-01", lags=(1,), windows=(3,))
    assert train["lag1_estimated"].tolist()[1:5] == [1.0, 0.0, 0.0, 1.0]
    assert np.isnan(train["lag1_estimated"].iloc[0])
    # 2021-01: cells 2020-01..2020-12 -> 2 of 12 estimated; 2021-02: 2020-02..2021-01 -> 2 of 12
    assert row(train, "A", "2021-01-01")["est_share_12"] == pytest.approx(2 / 12)
    assert row(train, "A", "2021-02-01")["est_share_12"] == pytest.approx(2 / 12)
    # 2020-05: cells Jan..Apr, two estimated
    assert row(train, "A", "2020-05-01")["est_share_12"] == pytest.approx(0.5)
    custom, _ = build_history(panel, h=1, as_of="2021-02-01", est_window=3)
    assert row(custom, "A", "2020-05-01")["est_share_3"] == pytest.approx(1 / 3)


def test_missing_month_rows_are_gaps_not_shifted_neighbours():
    panel = tiny_panel({"A": [1, 2, 3, 4]}).drop(index=2)      # no row for 2020-03
    train, _ = build_history(panel, h=1, as_of="2020-04-01", lags=(1, 2), windows=(3,))
    assert train["ds"].tolist() == list(pd.to_datetime(["2020-01-01", "2020-02-01",
                                                        "2020-04-01"]))
    april = row(train, "A", "2020-04-01")
    assert np.isnan(april["lag1"]) and april["lag2"] == 2.0


def test_future_rows_shape_and_unknown_lags_are_nan(make_panel):
    panel = make_panel(n_series=3, months=36)
    as_of, h = pd.Timestamp("2020-12-01"), 14
    train, future = build_history(panel, h=h, as_of=as_of)
    assert len(future) == 4 * h and future.groupby("unique_id").size().eq(h).all()
    assert future["ds"].min() == pd.Timestamp("2021-01-01")
    assert (train["ds"] <= as_of).all() and len(train) == 4 * 24
    us = future[future["unique_id"] == "US"].reset_index(drop=True)
    y_us = panel[panel["unique_id"] == "US"].set_index("ds")["y"]
    assert us.loc[0, "lag1"] == y_us[as_of]
    assert us["lag1"].iloc[1:].isna().all()
    assert us["lag3"].iloc[:3].tolist() == y_us.loc["2020-10-01":"2020-12-01"].tolist()
    assert us["lag3"].iloc[3:].isna().all()
    assert us["lag12"].iloc[:12].notna().all() and us["lag12"].iloc[12:].isna().all()
    for col in ("rolling_mean_12", "yoy", "share_world", "est_share_12"):
        assert us[col].iloc[0] == us[col].iloc[0] and us[col].iloc[1:].isna().all()
    assert list(future.columns) == list(train.columns)


def test_no_look_ahead_across_the_cutoff(make_panel):
    panel = make_panel(n_series=4, months=48, estimated_frac=0.2, zero_frac=0.1)
    cutoff = pd.Timestamp("2021-06-01")
    changed = panel.copy()
    late = changed["ds"] > cutoff
    changed.loc[late, "y"] = changed.loc[late, "y"] * 3 + 100
    changed.loc[late, "status"] = "estimated"
    newcomer = pd.DataFrame({"unique_id": "ZZ", "ds": pd.date_range("2021-07-01", periods=3,
                                                                     freq="MS"),
                             "y": 9.0, "status": "reported"})
    changed = pd.concat([changed, newcomer]).sample(frac=1, random_state=1)
    base_train, base_future = build_history(panel, h=6, as_of=cutoff)
    new_train, new_future = build_history(changed, h=6, as_of=cutoff)
    pd.testing.assert_frame_equal(base_train, new_train)
    pd.testing.assert_frame_equal(base_future, new_future)
    truncated, _ = build_history(panel[panel["ds"] <= cutoff], h=6, as_of=cutoff)
    pd.testing.assert_frame_equal(base_train, truncated)


@pytest.mark.parametrize("t", ["2019-02-01", "2020-01-01", "2021-07-01", "2022-11-01"])
def test_row_t_never_sees_y_t_or_later(make_panel, t):
    panel = make_panel(n_series=3, months=48, estimated_frac=0.2)
    t = pd.Timestamp(t)
    changed = panel.copy()
    later = changed["ds"] >= t
    changed.loc[later, "y"] = changed.loc[later, "y"] * 7 + 1
    changed.loc[later, "status"] = np.where(changed.loc[later, "status"] == "estimated",
                                            "reported", "estimated")
    as_of = panel["ds"].max()
    base, _ = build_history(panel, h=3, as_of=as_of)
    new, _ = build_history(changed, h=3, as_of=as_of)
    upto = base["ds"] <= t
    pd.testing.assert_frame_equal(base[upto], new[upto])
    assert not base[~upto].equals(new[~upto])     # the perturbation does reach later rows


def test_output_sorted_and_keys_match_panel(make_panel):
    panel = make_panel(n_series=2, months=20).sample(frac=1, random_state=0)
    train, future = build_history(panel, h=2, as_of="2020-03-01")
    for df in (train, future):
        assert df.equals(df.sort_values(KEYS, ignore_index=True))
        assert "y" not in df.columns
    expected = panel.loc[panel["ds"] <= "2020-03-01", KEYS].sort_values(KEYS, ignore_index=True)
    pd.testing.assert_frame_equal(train[KEYS], expected)
