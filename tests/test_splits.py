"""rolling_cutoffs: the smallest valid settings work, the boundary of min_train is exact."""

from __future__ import annotations

import pandas as pd
import pytest

from forecasting.backtest.splits import rolling_cutoffs
from tests.conftest import build_panel


def months(n: int) -> pd.DataFrame:
    return build_panel(n_series=1, months=n)


def test_one_step_one_window_one_month_apart_is_a_valid_backtest():
    panel = months(30)
    assert rolling_cutoffs(panel, h=1, n_windows=1, step=1) == [pd.Timestamp("2021-05-01")]
    # the default step is one month
    assert rolling_cutoffs(panel, h=1, n_windows=2) == [pd.Timestamp("2021-04-01"),
                                                         pd.Timestamp("2021-05-01")]


@pytest.mark.parametrize("bad", [dict(h=0), dict(n_windows=0), dict(step=0), dict(h=-1)])
def test_zero_or_negative_settings_are_refused(bad):
    settings = dict(h=1, n_windows=1, step=1) | bad
    with pytest.raises(ValueError, match=">= 1"):
        rolling_cutoffs(months(60), **settings)


def test_the_first_cutoff_has_exactly_min_train_months_behind_it():
    # 25 months, h=1: the only cutoff is month 24, with 24 months of history (the default)
    assert rolling_cutoffs(months(25), h=1, n_windows=1) == [pd.Timestamp("2020-12-01")]
    with pytest.raises(ValueError, match="too short"):
        rolling_cutoffs(months(24), h=1, n_windows=1)
    assert rolling_cutoffs(months(24), h=1, n_windows=1, min_train=23) == [
        pd.Timestamp("2020-11-01")]
