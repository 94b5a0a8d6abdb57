"""SBC classification as of a month, and routing of series to smooth/intermittent models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast
from statsforecast.models import CrostonClassic, Naive

from forecasting.models.routing import (
    classify_at_cutoffs,
    classify_series,
    model_columns,
    route,
)
from forecasting.schema import FREQ

MONTHS = pd.date_range("2023-01-01", periods=6, freq=FREQ)
SERIES = {
    "S": [10, 12, 10, 12, 10, 12],
    "E": [1, 10, 1, 10, 1, 10],
    "I": [0, 0, 5, 0, 0, 5],
    "L": [0, 1, 0, 10, 0, 1],
    "Z": [0, 0, 0, 0, 0, 0],
    "N": [5, np.nan, 5, np.nan, 5, 5],
}


def panel_of(series: dict[str, list[float]], months: pd.DatetimeIndex = MONTHS) -> pd.DataFrame:
    """Long panel from per-series value lists (NaN = not reported)."""
    rows = [(uid, ds, float(v)) for uid, vals in series.items() for ds, v in zip(months, vals,
                                                                                strict=True)]
    df = pd.DataFrame(rows, columns=["unique_id", "ds", "y"])
    return df.assign(status=np.where(df["y"].isna(), "estimated", "reported"))


def test_classify_known_adi_cv2_and_classes():
    out = classify_series(panel_of(SERIES)).set_index("unique_id")
    assert out.loc[["S", "E", "I", "L", "Z", "N"], "demand_class"].tolist() == [
        "smooth", "erratic", "intermittent", "lumpy", "intermittent", "smooth"]
    np.testing.assert_allclose(out.loc[["S", "E", "I", "L", "N"], "adi"], [1, 1, 3, 2, 1])
    np.testing.assert_allclose(out.loc[["S", "E", "I", "L", "N"], "cv2"],
                               [1 / 121, (4.5 / 5.5) ** 2, 0.0, 18 / 16, 0.0])
    assert np.isinf(out.loc["Z", "adi"]) and np.isnan(out.loc["Z", "cv2"])


def test_classify_uses_only_history_up_to_as_of():
    months = pd.date_range("2023-01-01", periods=12, freq=FREQ)
    later = {"X": [0, 0, 5, 0, 0, 5] + [50, 80, 20, 90, 10, 70]}
    cut = months[5]
    as_of = classify_series(panel_of(later, months), as_of=cut)
    truncated = classify_series(panel_of({"X": later["X"][:6]}))
    pd.testing.assert_frame_equal(as_of, truncated)
    assert as_of["demand_class"].item() == "intermittent" and as_of["adi"].item() == 3.0
    assert classify_series(panel_of(later, months))["demand_class"].item() == "lumpy"


def test_series_without_history_yet_is_intermittent_and_thresholds_are_parameters():
    late = panel_of({"S": SERIES["S"], "I": SERIES["I"]})
    out = classify_series(late, as_of=MONTHS[1]).set_index("unique_id")
    assert out.loc["I", "demand_class"] == "intermittent" and np.isinf(out.loc["I", "adi"])
    loose = classify_series(late, adi_threshold=3.5).set_index("unique_id")
    assert loose.loc["I", "demand_class"] == "smooth"
    strict = classify_series(late, cv2_threshold=0.001).set_index("unique_id")
    assert strict.loc["S", "demand_class"] == "erratic"


def test_classify_at_cutoffs_changes_class_with_the_cutoff():
    months = pd.date_range("2023-01-01", periods=24, freq=FREQ)
    panel = panel_of({"X": [0, 0, 5, 0, 0, 5] + [5] * 18}, months)
    out = classify_at_cutoffs(panel, [months[5], months[23]])
    assert out["cutoff"].tolist() == [months[5], months[23]]
    assert out["demand_class"].tolist() == ["intermittent", "smooth"]


def frame_with_models(keys: pd.DataFrame) -> pd.DataFrame:
    """Add models A (point 100+i) and B (point 200+i) with distinct interval columns."""
    out = keys.reset_index(drop=True).copy()
    i = np.arange(len(out), dtype=float)
    for model, base in (("A", 100.0), ("B", 200.0)):
        out[model] = base + i
        for lv in (80, 95):
            out[f"{model}-lo-{lv}"] = base + i - lv / 10
            out[f"{model}-hi-{lv}"] = base + i + lv / 10
    return out


def test_route_takes_smooth_model_for_smooth_and_erratic_series():
    classes = classify_series(panel_of(SERIES))
    keys = pd.DataFrame({"unique_id": np.repeat(list(SERIES), 2),
                         "ds": np.tile(pd.date_range("2023-07-01", periods=2, freq=FREQ), 6)})
    frame = frame_with_models(keys)
    out = route(frame, classes, smooth="A", intermittent="B")
    smooth_side = frame["unique_id"].isin(["S", "E", "N"]).to_numpy()
    expected = np.where(smooth_side[:, None], frame[model_columns("A")].to_numpy(),
                        frame[model_columns("B")].to_numpy())
    np.testing.assert_array_equal(out[model_columns("Routed")].to_numpy(), expected)
    assert list(out.columns[: frame.shape[1]]) == list(frame.columns)


def test_route_per_cutoff_uses_the_class_known_at_each_fold():
    months = pd.date_range("2023-01-01", periods=24, freq=FREQ)
    panel = panel_of({"X": [0, 0, 5, 0, 0, 5] + [5] * 18}, months)
    classes = classify_at_cutoffs(panel, [months[5], months[23]])
    keys = pd.DataFrame({"unique_id": "X", "cutoff": [months[5], months[23]],
                         "ds": [months[6], months[23] + pd.offsets.MonthBegin(1)]})
    out = route(frame_with_models(keys), classes, smooth="A", intermittent="B", alias="R")
    assert out["R"].tolist() == [200.0, 101.0]
    assert out["R-hi-95"].tolist() == [209.5, 110.5]


def test_route_rejects_unclassified_series_and_missing_cutoff():
    classes = classify_series(panel_of({"S": SERIES["S"]}))
    frame = frame_with_models(pd.DataFrame({"unique_id": ["S", "Q"], "ds": MONTHS[:2]}))
    with pytest.raises(ValueError, match="no demand class for .*'Q'"):
        route(frame, classes, smooth="A", intermittent="B")
    per_cutoff = classes.assign(cutoff=MONTHS[-1])
    with pytest.raises(ValueError, match="no 'cutoff' column"):
        route(frame, per_cutoff, smooth="A", intermittent="B")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['C'"):
        route(frame.iloc[:1], classes, smooth="C", intermittent="B")


def test_route_real_statsforecast_models_without_intervals():
    months = pd.date_range("2022-01-01", periods=24, freq=FREQ)
    history = panel_of({"S": [100 + (i % 3) for i in range(24)],
                        "I": [0, 0, 6] * 8}, months)
    sf = StatsForecast(models=[Naive(), CrostonClassic()], freq=FREQ)
    fcst = sf.forecast(h=3, df=history[["unique_id", "ds", "y"]])
    out = route(fcst, classify_series(history), smooth="Naive", intermittent="CrostonClassic",
                levels=()).set_index("unique_id")
    np.testing.assert_allclose(out.loc["S", "Routed"], [102.0] * 3)
    np.testing.assert_allclose(out.loc["I", "Routed"], fcst.set_index("unique_id").loc[
        "I", "CrostonClassic"])
    assert not np.allclose(out.loc["I", "Routed"], 6.0)
