"""Tests for the bundled panel: selection, estimation, consistency and gap filling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.data.bundle import (
    BUNDLED_DIR,
    OBSERVATIONS_FILE,
    PANEL_FILE,
    SERIES,
    SOURCES_DIR,
    bundled_panel_path,
    estimated_share,
    fill_gaps,
    load_bundled_panel,
    write_bundle,
)
from forecasting.data.reported import read_observations, select_reported
from forecasting.schema import DEFAULT_DESTINATIONS, OTHER, WORLD, InputError


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    return pd.read_csv(bundled_panel_path(), dtype={"month": str})


@pytest.fixture(scope="module")
def wide(plain) -> pd.DataFrame:
    return plain.pivot(index="month", columns="destination", values="tonnes")


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    return select_reported(read_observations(SOURCES_DIR))


def _chosen(obs, destination, period, series):
    rows = obs[(obs["destination"] == destination) & (obs["period"] == period)
               & (obs["series"] == series)]
    return rows.loc[rows["chosen"], "tonnes"].tolist()


def test_rebuild_equals_committed_files_byte_for_byte(tmp_path):
    write_bundle(tmp_path)
    for name in (PANEL_FILE, OBSERVATIONS_FILE):
        assert (tmp_path / name).read_bytes() == (BUNDLED_DIR / name).read_bytes(), name


def test_october_2025_and_2025_annual_selection(obs):
    assert _chosen(obs, WORLD, "2025-10", "magnets") == [5473.0]
    assert _chosen(obs, WORLD, "2025", "magnets_annual") == [57392.0]
    loser = obs[(obs["period"] == "2025") & (obs["tonnes"] == 57794.0)]
    assert not loser["chosen"].any() and "conflicts with the chosen 57392" in loser["reason"].iat[0]


def test_most_precise_value_within_a_rounding_cluster(obs):
    assert _chosen(obs, "US", "2025-05", "magnets") == [46.4]
    assert _chosen(obs, WORLD, "2025-11", "magnets") == [6149.95]
    assert _chosen(obs, "US", "2025-08", "magnets") == [589.0]  # customs-citing source


def test_observations_keep_every_magnet_figure(obs):
    committed = pd.read_csv(BUNDLED_DIR / OBSERVATIONS_FILE)
    assert len(committed) == len(obs)
    assert not committed["series"].str.contains("rare_earth").any()
    unused = committed.loc[committed["destination"].isin(["EU", "EUROPE", "IT", "TH"]), "chosen"]
    assert len(unused) > 0 and not unused.any()
    assert (committed.groupby(["series", "destination", "period"])["chosen"].sum() <= 1).all()


def test_grid_and_series(plain):
    assert tuple(plain["destination"].unique()) == SERIES
    assert plain.groupby("destination")["month"].agg(["min", "max", "size"]).eq(
        ["2016-01", "2025-12", 120]).all().all()


def test_reported_cells_keep_their_exact_value_and_url(plain, obs):
    chosen = obs[obs["chosen"] & (obs["series"] == "magnets")]
    merged = chosen.merge(plain, left_on=["destination", "period"],
                          right_on=["destination", "month"], how="left")
    assert (merged["status"] == "reported").all()
    assert (merged["tonnes_x"] == merged["tonnes_y"]).all()
    assert (merged["source"] == merged["source_url"]).all()
    n_reported = (plain["status"] == "reported").sum()
    assert n_reported == len(chosen) + 1  # plus OTHER in October 2025


def test_estimated_cells_say_how(plain):
    est = plain[plain["status"] == "estimated"]
    assert est["source"].str.startswith("estimated: ").all()
    assert (est["tonnes"] > 0).all()


def test_parts_add_up_to_world_and_other_nonnegative(wide, plain):
    parts = wide[list(DEFAULT_DESTINATIONS) + [OTHER]].sum(axis=1)
    np.testing.assert_allclose(parts, wide[WORLD], atol=1e-6)
    assert (wide[OTHER] >= 0).all()
    other = plain[plain["destination"] == OTHER]
    assert other.loc[other["status"] == "reported", "month"].tolist() == ["2025-10"]


def test_feb_mar_2025_pinned_by_the_ytd_chain(wide):
    assert wide.loc["2025-03", WORLD] == 5324
    assert wide.loc["2025-02", WORLD] + wide.loc["2025-03", WORLD] == pytest.approx(8910, abs=2)
    assert wide.loc["2025-02", WORLD] == pytest.approx(3586, abs=1)


def test_every_sum_met_within_0_1_percent(wide, obs):
    sums = obs[obs["chosen"] & obs["series"].isin(["magnets_ytd", "magnets_annual"])]
    assert len(sums) == 28
    errors = {}
    for row in sums.itertuples():
        total = wide.loc[row.start:row.end, row.destination].sum()
        errors[(row.destination, row.period)] = (total - row.tonnes) / row.tonnes
    conflict = {("US", "2025"), ("US", "2025-01..2025-06")}
    assert all(abs(e) <= 1e-3 for k, e in errors.items() if k not in conflict), errors
    # The documented source conflict: H1 + reported Jul-Dec exceeds the annual total by 7.6 t.
    gap = 2510 + wide.loc["2025-07":"2025-12", "US"].sum() - 5933
    assert gap == pytest.approx(7.6, abs=1e-9)
    split = errors[("US", "2025")] * 5933 - errors[("US", "2025-01..2025-06")] * 2510
    assert split == pytest.approx(gap, abs=0.01)
    assert max(abs(errors[k]) for k in conflict) < 1.2e-3


def test_load_bundled_panel_is_a_valid_long_frame():
    panel = load_bundled_panel()
    assert list(panel.columns) == ["unique_id", "ds", "y", "status"]
    assert len(panel) == 8 * 120 and panel["y"].notna().all()
    assert (panel["ds"].dt.day == 1).all()
    assert panel.loc[(panel["unique_id"] == WORLD)
                     & (panel["ds"] == "2025-10-01"), "y"].item() == 5473.0


def test_estimated_share_table_matches_readme():
    table = estimated_share(load_bundled_panel())
    assert table.set_index("unique_id").loc[WORLD, "estimated"] == 90
    readme = (BUNDLED_DIR / "README.md").read_text()
    for row in table.itertuples():
        line = f"| {row.unique_id} | {row.months} | {row.estimated} | {row.estimated_share:.3f} |"
        assert line in readme, line


def _user_panel() -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=5, freq="MS")
    return pd.DataFrame({"unique_id": ["A"] * 5 + ["B"] * 5, "ds": list(ds) * 2,
                         "y": [10.0, 12.0, 14.0, 16.0, 18.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                         "status": ["reported"] * 10})


def test_fill_gaps_leaves_a_complete_panel_unchanged():
    panel = _user_panel()
    pd.testing.assert_frame_equal(fill_gaps(panel), _user_panel())


def test_fill_gaps_estimates_nan_and_missing_months():
    panel = _user_panel()
    panel.loc[2, "y"] = np.nan                  # A 2024-03 NaN
    panel = panel.drop(index=[6, 7])            # B 2024-02 and 2024-03 missing rows
    out = fill_gaps(panel.drop(columns="status"))
    assert len(out) == 10
    a = out[out["unique_id"] == "A"].set_index("ds")
    assert a.loc["2024-03-01", "y"] == pytest.approx(14.0)
    assert a.loc["2024-03-01", "status"] == "estimated"
    assert a.loc["2024-02-01", "status"] == "reported"
    b = out[out["unique_id"] == "B"].set_index("ds")
    np.testing.assert_allclose(b["y"], [1, 2, 3, 4, 5])
    assert b["status"].tolist() == ["reported", "estimated", "estimated", "reported", "reported"]


def test_fill_gaps_rejects_an_empty_series():
    panel = _user_panel()
    panel.loc[panel["unique_id"] == "B", "y"] = np.nan
    with pytest.raises(InputError, match="series 'B' has no reported month"):
        fill_gaps(panel)


def test_panel_built_with_every_figure_is_the_committed_file() -> None:
    from forecasting.data.bundle import bundled_panel_at

    pd.testing.assert_frame_equal(bundled_panel_at(None), load_bundled_panel())
