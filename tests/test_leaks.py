"""Look-ahead and atomicity tests that bite: each fails under a named leak (docs/mutation.md).

- the backtest ignoring the as-known panel (run.py using the final panel, or
  ModelInput.panel_at returning the latest panel);
- the bundled panel at a cutoff built from figures published after it;
- a policy event announced on the 1st of the month after the cutoff counted as known;
- the atomic set writer not restoring the files it already replaced when a rename fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import Naive, SeasonalNaive

from forecasting.atomic import write_files_atomic
from forecasting.backtest.run import run_backtest
from forecasting.data.bundle import SOURCES_DIR, bundled_panel_at
from forecasting.data.policy_calendar import load_policy_events
from forecasting.data.reported import MONTHLY, read_observations
from forecasting.features.policy import build_policy
from forecasting.inputs import ModelInput
from forecasting.models.stats import StatsForecaster
from forecasting.schema import (
    DEFAULT_DESTINATIONS,
    ESTIMATED,
    ID_COL,
    OTHER,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
)
from tests.conftest import build_panel

CUTOFF = pd.Timestamp("2021-06-01")


def _gappy_raw() -> pd.DataFrame:
    """A plain panel (DE, US, KR, WORLD) with DE unreported in the cutoff month."""
    raw = build_panel(n_series=3, months=48, seed=5)
    return raw.loc[~((raw[ID_COL] == "DE") & (raw[TIME_COL] == CUTOFF))].reset_index(drop=True)


def _later_changed(raw: pd.DataFrame) -> pd.DataFrame:
    """The same panel with every figure after the cutoff changed."""
    out = raw.copy()
    later = out[TIME_COL] > CUTOFF
    out.loc[later, TARGET_COL] = out.loc[later, TARGET_COL] * 3 + 100
    return out


def _input(raw: pd.DataFrame) -> ModelInput:
    return ModelInput(source="x", format="plain", destinations=("DE", "US", "KR"), raw=raw)


def test_backtest_fold_uses_the_panel_as_known_at_its_cutoff_not_the_final_one() -> None:
    """DE's missing cutoff month is estimated from earlier figures only, as the job does it.

    The final panel interpolates that month towards the next reported one, so a fold fed the
    final panel (run.py ignoring history_at, or panel_at returning the latest panel) changes
    when figures after the cutoff change.
    """
    raw = _gappy_raw()
    stats = [StatsForecaster([SeasonalNaive(season_length=12, alias="SeasonalNaive"),
                              Naive(alias="Naive")])]

    def fold(data: ModelInput) -> pd.DataFrame:
        bt = run_backtest(data.panel_at(None), stats, h=3, cutoffs=[CUTOFF], progress=False,
                          history_at=data.panel_at)
        return bt.drop(columns=[TARGET_COL, STATUS_COL])

    honest, changed = _input(raw), _input(_later_changed(raw))
    # the leak would show: the final panels differ in DE's cutoff month
    de_cutoff = [d.panel_at(None).set_index([ID_COL, TIME_COL]).loc[("DE", CUTOFF), TARGET_COL]
                 for d in (honest, changed)]
    assert abs(de_cutoff[0] - de_cutoff[1]) > 1.0
    pd.testing.assert_frame_equal(fold(honest), fold(changed))
    # and the fold equals one made from a file that ends at the cutoff
    ends = _input(raw.loc[raw[TIME_COL] <= CUTOFF].reset_index(drop=True))
    pd.testing.assert_frame_equal(fold(honest), fold(ends))


def test_a_fold_given_the_whole_panel_forecasts_from_the_history_up_to_its_cutoff() -> None:
    """run_backtest without history_at: each fold cuts the panel at its cutoff itself.

    Naive repeats the cutoff month and SeasonalNaive the month a year before the target, so a
    fold that fits on any other rows (later months, or only the cutoff month) gets other values.
    """
    panel = build_panel(n_series=3, months=48, seed=5)
    cutoffs = [CUTOFF, CUTOFF + pd.offsets.MonthBegin(4)]
    stats = [StatsForecaster([SeasonalNaive(season_length=12, alias="SeasonalNaive"),
                              Naive(alias="Naive")])]
    bt = run_backtest(panel, stats, h=3, cutoffs=cutoffs, progress=False)
    y = panel.set_index([ID_COL, TIME_COL])[TARGET_COL]
    at_cutoff = y.reindex(pd.MultiIndex.from_arrays([bt[ID_COL], bt["cutoff"]])).to_numpy()
    year_before = y.reindex(pd.MultiIndex.from_arrays(
        [bt[ID_COL], bt[TIME_COL] - pd.DateOffset(years=1)])).to_numpy()
    months_ahead = (bt[TIME_COL].dt.to_period("M") - bt["cutoff"].dt.to_period("M")).map(
        lambda step: step.n)
    assert bt["horizon"].tolist() == months_ahead.tolist()  # the second fold spans a new year
    np.testing.assert_allclose(bt["Naive"], at_cutoff)
    np.testing.assert_allclose(bt["SeasonalNaive"], year_before)
    later = run_backtest(_later_changed(panel), stats, h=3, cutoffs=[CUTOFF], progress=False)
    pd.testing.assert_frame_equal(bt.loc[bt["cutoff"] == CUTOFF].drop(
        columns=[TARGET_COL, STATUS_COL]).reset_index(drop=True),
        later.drop(columns=[TARGET_COL, STATUS_COL]))


def test_panel_at_a_cutoff_is_built_from_figures_up_to_it() -> None:
    raw = _gappy_raw()
    data = _input(raw)
    at = data.panel_at(CUTOFF)
    assert at[TIME_COL].max() == CUTOFF
    de = at.loc[at[ID_COL] == "DE"].set_index(TIME_COL)
    assert de.loc[CUTOFF, STATUS_COL] == ESTIMATED
    final = data.panel_at(None).set_index([ID_COL, TIME_COL])
    assert de.loc[CUTOFF, TARGET_COL] != final.loc[("DE", CUTOFF), TARGET_COL]
    # the cutoff month's own figures are known at the cutoff (kept as reported)
    us = at.loc[(at[ID_COL] == "US") & (at[TIME_COL] == CUTOFF)].iloc[0]
    reported = raw.loc[(raw[ID_COL] == "US") & (raw[TIME_COL] == CUTOFF), TARGET_COL].item()
    assert us[STATUS_COL] != ESTIMATED and us[TARGET_COL] == reported


def test_a_cutoff_whose_figures_are_not_out_yet_still_ends_at_the_cutoff() -> None:
    """No figure of the cutoff month yet: every series gets it estimated, so every model
    forecasts from the cutoff (none from the month before)."""
    raw = _gappy_raw()
    data = _input(raw.loc[raw[TIME_COL] != CUTOFF].reset_index(drop=True))
    at = data.panel_at(CUTOFF)
    last = at.loc[at[TIME_COL] == CUTOFF]
    assert set(last[ID_COL]) == set(at[ID_COL]) and (last[STATUS_COL] == ESTIMATED).all()


def _published_by(cutoff: pd.Timestamp) -> set[tuple[str, pd.Timestamp]]:
    """(destination, month) of the monthly figures known at `cutoff`: published by c + 1."""
    obs = read_observations(SOURCES_DIR)
    month = pd.Period(cutoff, "M")
    known = obs.loc[(obs["series"] == MONTHLY) & (obs["published"] <= f"{month + 1}")
                    & (obs["start"] == obs["end"]) & (obs["end"] <= f"{month}")
                    & (obs["not_magnets"] == "")]
    return set(zip(known["destination"], pd.to_datetime(known["start"]), strict=True))


def _assert_only_published_figures(panel: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """No month after the cutoff; the reported/derived cells are exactly the months with a
    figure published by c + 1 (the cutoff month's own figures, published in c + 1, included)."""
    assert panel[TIME_COL].max() <= cutoff
    cells = panel.loc[(panel[STATUS_COL] != ESTIMATED) & (panel[ID_COL] != OTHER)]
    shown = set(zip(cells[ID_COL], cells[TIME_COL], strict=True))
    known = {(uid, ds) for uid, ds in _published_by(cutoff)
             if uid in set(panel[ID_COL]) and ds >= panel[TIME_COL].min()}
    assert not shown - known, sorted(shown - known)[:5]
    assert not known - shown, sorted(known - shown)[:5]
    assert ("WORLD", cutoff) in shown


# US January-April 2025 were published in July 2025; the US 2024 total (7,444 t) in January 2026.
BUNDLED_CUTOFF = pd.Timestamp("2025-05-01")


def _us_2024_and_early_2025(panel: pd.DataFrame) -> tuple[float, pd.Series]:
    us = panel.loc[panel[ID_COL] == "US"].set_index(TIME_COL)
    return float(us.loc["2024-01":"2024-12", TARGET_COL].sum()), us.loc["2025-01":"2025-04",
                                                                        STATUS_COL]


def test_bundled_panel_at_a_cutoff_uses_only_figures_published_by_then() -> None:
    panel = bundled_panel_at(BUNDLED_CUTOFF)
    _assert_only_published_figures(panel, BUNDLED_CUTOFF)
    us_2024, us_early_2025 = _us_2024_and_early_2025(panel)
    assert (us_early_2025 == ESTIMATED).all()
    assert abs(us_2024 - 7444.0) > 50.0
    # with every figure (the final panel) they are reported and the total is met
    final_2024, final_early = _us_2024_and_early_2025(bundled_panel_at(None))
    assert final_2024 == pytest.approx(7444.0, abs=1.0)
    assert (final_early != ESTIMATED).all()


def test_bundled_model_input_at_a_cutoff_uses_only_figures_published_by_then() -> None:
    data = ModelInput(source="bundled", format="bundled", destinations=DEFAULT_DESTINATIONS)
    panel = data.panel_at(BUNDLED_CUTOFF)
    _assert_only_published_figures(panel, BUNDLED_CUTOFF)
    assert (_us_2024_and_early_2025(panel)[1] == ESTIMATED).all()


def _event(announced: str, effective: str) -> dict[str, str]:
    return {"announced": announced, "effective": effective, "ends": "", "kind": "export_control",
            "direction": "tighten", "magnets": "yes", "destinations": "ALL",
            "title": f"test curb announced {announced}"}


def _policy(events: pd.DataFrame, as_of: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = pd.date_range("2024-01", as_of, freq="MS")
    panel = pd.DataFrame({ID_COL: np.repeat(["DE", "US"], len(ds)), TIME_COL: np.tile(ds, 2),
                          TARGET_COL: 100.0, STATUS_COL: "reported"})
    return build_policy(panel, h=3, as_of=as_of, events=events)


@pytest.mark.parametrize("as_of", ["2025-02", "2025-09"])
def test_an_announcement_on_the_first_of_the_next_month_is_not_known_at_the_cutoff(
        as_of: str) -> None:
    """A retroactive curb (in force from two months earlier) announced on day 1 of the month
    after the cutoff changes no feature of that cutoff; announced a day earlier, it does."""
    calendar = load_policy_events()
    after = pd.Timestamp(as_of) + pd.offsets.MonthBegin(1)
    back = after - pd.DateOffset(months=2)

    def with_event(announced: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
        extra = pd.DataFrame([_event(f"{announced:%Y-%m-%d}", f"{back:%Y-%m-%d}")])
        return _policy(pd.concat([calendar.astype(str).replace("NaT", ""), extra],
                                 ignore_index=True), as_of)

    train, future = _policy(calendar, as_of)
    late_train, late_future = with_event(after)
    pd.testing.assert_frame_equal(train, late_train)
    pd.testing.assert_frame_equal(future, late_future)
    known_train, known_future = with_event(after - pd.Timedelta(days=1))
    last = known_train[TIME_COL] == pd.Timestamp(as_of)
    assert (known_train.loc[last, "pol_tighten"].to_numpy()
            > train.loc[last, "pol_tighten"].to_numpy()).all()
    assert (known_future["pol_tighten"].to_numpy() > future["pol_tighten"].to_numpy()).all()


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_rename_failing_midway_restores_the_files_already_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int) -> None:
    """a and b exist, c is new; the fail_at-th rename of the set fails: all three as before."""
    (tmp_path / "a.csv").write_bytes(b"old a")
    (tmp_path / "b.csv").write_bytes(b"old b")
    before = _tree(tmp_path)
    real_replace, calls = os.replace, []

    def failing_replace(src: os.PathLike, dst: os.PathLike) -> None:
        calls.append(Path(dst).name)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device (injected)")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected"):
        write_files_atomic({tmp_path / "a.csv": b"new a", tmp_path / "c.csv": b"new c",
                            tmp_path / "b.csv": b"new b"})
    monkeypatch.undo()
    assert calls[:fail_at] == ["a.csv", "c.csv", "b.csv"][:fail_at]
    assert _tree(tmp_path) == before  # old contents back, the new file gone, no temporaries
