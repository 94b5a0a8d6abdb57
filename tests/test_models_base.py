"""clip_forecasts: the one place interval order is enforced."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.models.base import clip_forecasts


def test_clips_orders_and_nests_but_keeps_missing_bounds_missing() -> None:
    f = pd.DataFrame({"M": [10.0, -2.0, 5.0], "M-lo-80": [12.0, -5.0, np.nan],
                      "M-hi-80": [15.0, 1.0, np.nan], "M-lo-95": [11.0, -9.0, 4.0],
                      "M-hi-95": [14.0, 3.0, 6.0]})
    out = clip_forecasts(f, ["M"], (95, 80))
    assert out["M"].tolist() == [10.0, 0.0, 5.0]
    assert out["M-lo-80"].tolist()[:2] == [10.0, 0.0] and np.isnan(out["M-lo-80"][2])
    assert out["M-hi-80"].tolist()[:2] == [15.0, 1.0] and np.isnan(out["M-hi-80"][2])
    assert out["M-lo-95"].tolist() == [10.0, 0.0, 4.0]   # 95% never inside 80%
    assert out["M-hi-95"].tolist() == [15.0, 3.0, 6.0]
    assert f["M"].tolist() == [10.0, -2.0, 5.0]          # input untouched
