"""Nowcast: destinations split to a known WORLD total, with bands learnt from the backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.nowcast import (
    FORECAST,
    KIND_COL,
    NOWCAST,
    apply_nowcast,
    band_quantiles,
    known_totals,
    split_errors,
)
from forecasting.schema import (
    CUTOFF_COL,
    ESTIMATED,
    ID_COL,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    hi_col,
    lo_col,
)

M = pd.Timestamp


def raw(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[ID_COL, TIME_COL, TARGET_COL, STATUS_COL]).assign(
        **{TIME_COL: lambda d: pd.to_datetime(d[TIME_COL])})


def test_known_totals_are_the_world_figures_after_the_last_partner_figure():
    panel = raw([("DE", "2025-10-01", 10, REPORTED), ("WORLD", "2025-10-01", 30, REPORTED),
                 ("WORLD", "2025-11-01", 33, REPORTED), ("WORLD", "2025-12-01", 35, REPORTED),
                 ("US", "2025-11-01", np.nan, ESTIMATED)])
    totals = known_totals(panel)
    assert list(totals[TIME_COL]) == [M("2025-11-01"), M("2025-12-01")]
    assert list(totals[TARGET_COL]) == [33, 35]
    complete = panel.loc[panel[TIME_COL] <= "2025-10-01"]
    assert known_totals(complete).empty
    estimated_world = panel.assign(**{STATUS_COL: ESTIMATED}).loc[panel[ID_COL] == WORLD]
    assert known_totals(pd.concat([panel.iloc[:1], estimated_world])).empty


def frame(months: list[str]) -> pd.DataFrame:
    rows = []
    for m in months:
        for uid, y in (("DE", 10.0), ("US", 30.0), ("OTHER", 20.0), (WORLD, 60.0)):
            rows.append({ID_COL: uid, TIME_COL: M(m), "forecast": y,
                         lo_col("forecast", 80): 0.5 * y, hi_col("forecast", 80): 1.5 * y,
                         lo_col("forecast", 95): 0.2 * y, hi_col("forecast", 95): 2.0 * y})
    return pd.DataFrame(rows)


def test_apply_nowcast_adds_up_to_the_known_total_and_narrows_the_bands():
    fc = frame(["2026-01-01", "2026-02-01"])
    totals = pd.DataFrame({TIME_COL: [M("2026-01-01")], TARGET_COL: [90.0]})
    bands = {80: (-0.1, 0.2), 95: (-0.3, 0.5)}
    out = apply_nowcast(fc, totals, point="forecast", bands=bands)
    jan = out.loc[out[TIME_COL] == M("2026-01-01")].set_index(ID_COL)
    assert (jan[KIND_COL] == NOWCAST).all()
    assert jan.loc[WORLD, "forecast"] == 90.0
    assert jan.loc[WORLD, lo_col("forecast", 95)] == jan.loc[WORLD, hi_col("forecast", 95)] == 90
    bottom = jan.drop(index=WORLD)
    assert bottom["forecast"].sum() == pytest.approx(90.0)
    assert jan.loc["US", "forecast"] == pytest.approx(45.0)  # shares kept: 30/60 of 90
    assert jan.loc["US", lo_col("forecast", 80)] == pytest.approx(45.0 * 0.9)
    assert jan.loc["US", hi_col("forecast", 95)] == pytest.approx(45.0 * 1.5)
    feb = out.loc[out[TIME_COL] == M("2026-02-01")]
    assert (feb[KIND_COL] == FORECAST).all()
    pd.testing.assert_frame_equal(feb.drop(columns=KIND_COL).reset_index(drop=True),
                                  fc.loc[fc[TIME_COL] == M("2026-02-01")].reset_index(drop=True))


def test_apply_nowcast_without_bands_scales_the_forecast_bands():
    fc = frame(["2026-01-01"])
    totals = pd.DataFrame({TIME_COL: [M("2026-01-01")], TARGET_COL: [30.0]})
    out = apply_nowcast(fc, totals, point="forecast", bands=None).set_index(ID_COL)
    assert out.loc["DE", "forecast"] == pytest.approx(5.0)
    assert out.loc["DE", hi_col("forecast", 80)] == pytest.approx(7.5)


def backtest() -> pd.DataFrame:
    """Two cutoffs, h=1..2; DE is reported at h=1 of the first cutoff only."""
    rows = []
    for cutoff, month, world_y, de_y, de_status in (
            ("2025-01-01", "2025-02-01", 100.0, 30.0, REPORTED),
            ("2025-02-01", "2025-03-01", 80.0, 10.0, ESTIMATED)):
        for uid, y, fc, status in (("DE", de_y, 20.0, de_status), ("US", 60.0, 30.0, REPORTED),
                                   (WORLD, world_y, 50.0, REPORTED)):
            rows.append({ID_COL: uid, TIME_COL: M(month), CUTOFF_COL: M(cutoff), "horizon": 1,
                         TARGET_COL: y, STATUS_COL: status, "Naive": fc})
    return pd.DataFrame(rows)


def test_split_errors_scale_to_the_realised_total_and_score_known_cells_only():
    errors = split_errors(backtest(), "Naive")
    first = errors.loc[errors[CUTOFF_COL] == M("2025-01-01")].set_index(ID_COL)
    # forecasts 20 + 30 = 50 scaled to the realised 100: DE 40 against 30 -> -25%
    assert first.loc["DE", "split"] == pytest.approx(40.0)
    assert first.loc["DE", "rel_error"] == pytest.approx(-0.25)
    second = errors.loc[errors[CUTOFF_COL] == M("2025-02-01")]
    assert list(second[ID_COL]) == ["US"]  # DE's estimated actual is not scored
    assert band_quantiles(errors) is None  # 3 errors: too few to learn a band from


def test_job_publishes_nowcast_rows_that_add_up_to_the_known_total(tmp_path, make_panel):
    from hydra import compose, initialize_config_dir

    from forecasting.cli import CONF_DIR
    from forecasting.job import run_job
    from forecasting.publish import read_published

    panel = make_panel(n_series=3, months=48)
    plain = panel.rename(columns={ID_COL: "destination", TARGET_COL: "tonnes"}).assign(
        month=panel[TIME_COL].dt.strftime("%Y-%m"))[["destination", "month", "tonnes"]]
    total = 1234.5
    plain.loc[len(plain)] = [WORLD, "2023-01", total]  # the headline total, detail not out
    path = tmp_path / "exports.csv"
    plain.to_csv(path, index=False)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[
            f"data.path={path}", "data.destinations=[DE,US,KR]", "models=stats",
            "~models.forecasters.intermittent", "models.routing.intermittent=Naive",
            "backtest.n_windows=6", "backtest.n_jobs=1", "tracking.enabled=false",
            "plots=false", "progress=false", "publish.h=3", f"publish.dir={tmp_path}/pub",
            "scenario=status_quo", "publish.scenario_effect.enabled=false"])
    result = run_job(cfg, run_dir=tmp_path / "run")
    # a preliminary publication of January; its as_of is the detail's last month
    assert result.published.directory.name == "2023-01-preliminary"
    pub = read_published(result.published.directory / "forecast_status_quo.csv")
    jan = pub.loc[pub["month"] == "2023-01"].set_index("destination")
    assert (jan["kind"] == "nowcast").all() and (pub.loc[pub["month"] > "2023-01", "kind"]
                                                  == "forecast").all()
    assert jan.loc[WORLD, "tonnes"] == total and jan.loc[WORLD, "hi_95"] == total
    assert jan.drop(index=WORLD)["tonnes"].sum() == pytest.approx(total, abs=0.2)
    manifest = result.published.manifest
    assert manifest["as_of"] == "2022-12" and (pub["as_of"] == "2022-12").all()
    assert manifest["nowcast"]["months"] == ["2023-01"]
    assert manifest["nowcast"]["band_cells"] > 0
    from forecasting.cli import format_report

    assert "nowcast: 2023-01 (WORLD known: 1,234.5 t)" in format_report(result, cfg)
