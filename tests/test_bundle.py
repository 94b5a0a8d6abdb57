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


def test_reported_and_derived_cells_keep_their_exact_value_status_and_url(plain, obs):
    chosen = obs[obs["chosen"] & (obs["series"] == "magnets")]
    merged = chosen.merge(plain, left_on=["destination", "period"],
                          right_on=["destination", "month"], how="left", suffixes=("", "_panel"))
    assert len(merged) == len(chosen) and set(chosen["status"]) == {"reported", "derived"}
    assert (merged["status_panel"] == merged["status"]).all()
    assert (merged["tonnes"] == merged["tonnes_panel"]).all()
    assert (merged["source"] == merged["source_url"]).all()
    counts = plain["status"].value_counts()
    assert counts["reported"] == (chosen["status"] == "reported").sum()
    # plus OTHER in October 2025, the one month all six destinations and WORLD are known
    assert counts["derived"] == (chosen["status"] == "derived").sum() + 1


def test_a_reported_figure_beats_a_derived_one(tmp_path):
    import shutil

    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    path = tmp_path / "sources" / "magnet_figures_added.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    clash = rows.iloc[[0]].assign(destination="WORLD", period="2025-10", tonnes="9999.0",
                                  kind="derived", published_date="2025-11")
    pd.concat([rows, clash]).to_csv(path, index=False)
    got = select_reported(read_observations(tmp_path / "sources"))
    row = got[(got["period"] == "2025-10") & (got["tonnes"] == 9999.0)]
    assert not row["chosen"].item() and "a reported figure exists" in row["reason"].item()
    assert _chosen(got, WORLD, "2025-10", "magnets") == [5473.0]


def test_headline_rare_earth_row_is_not_a_magnet_candidate():
    committed = pd.read_csv(BUNDLED_DIR / OBSERVATIONS_FILE, dtype=str)
    row = committed[(committed["period"] == "2025-10") & (committed["tonnes"] == "4343.5")]
    assert row["chosen"].tolist() == ["false"]
    assert "headline rare-earth figure" in row["reason"].item()


def test_estimated_cells_say_how(plain):
    est = plain[plain["status"] == "estimated"]
    assert est["source"].str.startswith("estimated: ").all()
    assert (est["tonnes"] > 0).all()


def test_parts_add_up_to_world_and_other_nonnegative(wide, plain):
    parts = wide[list(DEFAULT_DESTINATIONS) + [OTHER]].sum(axis=1)
    np.testing.assert_allclose(parts, wide[WORLD], atol=1e-6)
    assert (wide[OTHER] >= 0).all()
    other = plain[plain["destination"] == OTHER]
    assert other.loc[other["status"] != "estimated", "month"].tolist() == ["2025-10"]


def test_feb_mar_2025_pinned_by_the_ytd_chain(wide):
    assert wide.loc["2025-03", WORLD] == 5324
    assert wide.loc["2025-02", WORLD] + wide.loc["2025-03", WORLD] == pytest.approx(8910, abs=2)
    assert wide.loc["2025-02", WORLD] == pytest.approx(3586, abs=1)


# Reported sums that the reported/derived months inside them already contradict (all months
# of the span known, or the difference of two sums known): no estimate can meet them.
SOURCE_CONFLICTS = {("US", "2025"): ("2025-01", "2025-12"),
                    ("US", "2025-01..2025-06"): ("2025-01", "2025-06"),
                    ("US", "2019"): ("2019-09", "2019-12"),
                    ("US", "2019-01..2019-08"): ("2019-09", "2019-12")}


def test_every_sum_met_within_source_rounding(wide, plain, obs):
    sums = obs[obs["chosen"] & obs["series"].isin(["magnets_ytd", "magnets_annual"])]
    assert len(sums) == 51
    errors = {}
    for row in sums.itertuples():
        total = wide.loc[row.start:row.end, row.destination].sum()
        errors[(row.destination, row.period, row.status)] = (total - row.tonnes) / row.tonnes
    reported = {k[:2]: e for k, e in errors.items() if k[2] == "reported"}
    assert all(abs(e) <= 1e-4 for k, e in reported.items() if k not in SOURCE_CONFLICTS), errors
    # derived sums rest on percentages rounded to 0.1 point: they give way to reported sums
    assert all(abs(e) <= 2e-3 for k, e in errors.items() if k[2] == "derived"), errors
    known = plain[plain["status"] != "estimated"].set_index(["destination", "month"])["tonnes"]
    for (dest, _), (start, end) in SOURCE_CONFLICTS.items():
        months = [f"{p}" for p in pd.period_range(start, end, freq="M")]
        assert all((dest, m) in known.index for m in months)  # the conflict is in the sources
    assert max(abs(reported[k]) for k in SOURCE_CONFLICTS) < 2e-3


def test_load_bundled_panel_is_a_valid_long_frame():
    panel = load_bundled_panel()
    assert list(panel.columns) == ["unique_id", "ds", "y", "status"]
    assert len(panel) == 8 * 120 and panel["y"].notna().all()
    assert (panel["ds"].dt.day == 1).all()
    assert panel.loc[(panel["unique_id"] == WORLD)
                     & (panel["ds"] == "2025-10-01"), "y"].item() == 5473.0


def test_estimated_share_table_matches_readme():
    table = estimated_share(load_bundled_panel())
    assert table.set_index("unique_id").loc[WORLD, "estimated"] < 90  # 90 before issue 9
    readme = (BUNDLED_DIR / "README.md").read_text()
    for row in table.itertuples():
        line = (f"| {row.unique_id} | {row.months} | {row.reported} | {row.derived} | "
                f"{row.estimated} | {row.estimated_share:.3f} |")
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


def _with_added_rows(tmp_path, rows: list[dict[str, str]]):
    import shutil

    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    path = tmp_path / "sources" / "magnet_figures_added.csv"
    added = pd.read_csv(path, dtype=str, keep_default_na=False)
    extra = pd.DataFrame([{**added.iloc[0].to_dict(), **row} for row in rows])
    pd.concat([added, extra]).to_csv(path, index=False)
    return tmp_path / "sources"


def test_a_figure_published_after_the_cutoff_leaves_that_cutoffs_panel_unchanged(tmp_path):
    from forecasting.data.bundle import build_bundle

    # a WORLD month of 2023 and a US month of 2022 that only become public in mid-2025
    sources = _with_added_rows(tmp_path, [
        {"destination": "WORLD", "period": "2023-03", "tonnes": "6100.0", "kind": "derived",
         "published_date": "2025-06-20"},
        {"destination": "US", "period": "2022-06", "tonnes": "900.0", "kind": "monthly",
         "published_date": "2025-06-20"}])
    for cutoff in ("2024-12-01", "2025-04-01"):
        before, _ = build_bundle(as_of=pd.Timestamp(cutoff))
        after, _ = build_bundle(sources, as_of=pd.Timestamp(cutoff))
        pd.testing.assert_frame_equal(before, after)
    # from the month before publication on, they are known and change the panel
    later, _ = build_bundle(sources, as_of=pd.Timestamp("2025-05-01"))
    cell = later.set_index(["destination", "month"])
    assert cell.loc[("WORLD", "2023-03"), "status"] == "derived"
    assert cell.loc[("US", "2022-06"), "tonnes"] == 900.0


def test_a_revision_published_after_the_cutoff_leaves_that_cutoffs_panel_unchanged(tmp_path):
    import shutil

    from forecasting.data.bundle import build_bundle

    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    path = tmp_path / "sources" / "magnet_figures_added.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    us_2024 = (rows["destination"] == "US") & (rows["period"] == "2024-01..2024-12")
    assert rows.loc[us_2024, "published_date"].tolist() == ["2026-01-19"]
    rows.loc[us_2024, "tonnes"] = "9000.0"  # the US 2024 total, published January 2026
    rows.to_csv(path, index=False)
    cutoff = pd.Timestamp("2025-11-01")
    before, obs = build_bundle(as_of=cutoff)
    assert not ((obs["destination"] == "US") & (obs["tonnes"] == 7444.0)).any()
    pd.testing.assert_frame_equal(before, build_bundle(tmp_path / "sources", as_of=cutoff)[0])
    revised, _ = build_bundle(tmp_path / "sources", as_of=pd.Timestamp("2025-12-01"))
    us = revised[revised["destination"] == "US"].set_index("month")["tonnes"]
    assert us.loc["2024-01":"2024-12"].sum() == pytest.approx(9000, rel=1e-3)
