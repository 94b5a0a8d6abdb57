"""Policy-state features: no look-ahead, announced vs effective, suspensions, scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from forecasting.data.policy_calendar import load_policy_events
from forecasting.features.policy import FEATURE_COLUMNS, REGIME_COLUMNS, build_policy
from forecasting.scenarios import Scenario, scenario_events
from forecasting.schema import ID_COL, OTHER, TARGET_COL, TIME_COL, WORLD, InputError
from tests.test_scenarios import composed_scenario

IDS = ["DE", "JP", "US", WORLD, OTHER]
NUMERIC = [c for c in FEATURE_COLUMNS if c != "pol_regime"]


def flat_panel(ids: list[str] = IDS, start: str = "2024-01", end: str = "2025-12") -> pd.DataFrame:
    """A panel of constant tonnes over the given months (the policy builder ignores y)."""
    ds = pd.date_range(start, end, freq="MS")
    return pd.DataFrame({ID_COL: np.repeat(ids, len(ds)), TIME_COL: np.tile(ds, len(ids)),
                         TARGET_COL: 100.0, "status": "reported"})


def event(announced: str, effective: str | None = None, *, ends: str = "", kind: str =
          "export_control", direction: str = "tighten", magnets: str = "yes",
          destinations: str = "ALL", **extra: str) -> dict[str, str]:
    """One calendar row as the CSV would hold it."""
    return {"announced": announced, "effective": effective or announced, "ends": ends,
            "kind": kind, "direction": direction, "magnets": magnets,
            "destinations": destinations, "title": f"{kind} {announced}", **extra}


def row(df: pd.DataFrame, uid: str, month: str) -> pd.Series:
    """The feature row of one series and month."""
    hit = df.loc[(df[ID_COL] == uid) & (df[TIME_COL] == pd.Timestamp(month))]
    assert len(hit) == 1, (uid, month)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def calendar() -> pd.DataFrame:
    """The bundled policy calendar, as the loader returns it."""
    return load_policy_events()


def test_shapes_and_columns(calendar: pd.DataFrame) -> None:
    panel = flat_panel()
    train, future = build_policy(panel, h=6, as_of="2025-09", events=calendar)
    assert list(train.columns) == [ID_COL, TIME_COL, *FEATURE_COLUMNS]
    assert len(train) == len(IDS) * 21 and train[TIME_COL].max() == pd.Timestamp("2025-09-01")
    assert len(future) == len(IDS) * 6
    assert future[TIME_COL].min() == pd.Timestamp("2025-10-01")
    assert not train[NUMERIC].isna().any().any() and not future[NUMERIC].isna().any().any()
    # exactly one base regime is on in every row
    base = [c for c in REGIME_COLUMNS if "dest" not in c]
    assert (train[base].sum(axis=1) == 1).all() and (future[base].sum(axis=1) == 1).all()


def test_story_2025(calendar: pd.DataFrame) -> None:
    train, _ = build_policy(flat_panel(end="2026-05"), h=1, as_of="2026-05", events=calendar)
    assert row(train, "US", "2025-03")["pol_tighten"] == 0
    assert row(train, "US", "2025-03")["pol_regime"] == "none"
    # No. 18 effective 2025-04-04: 27 of April's 30 days
    assert row(train, "US", "2025-04")["pol_tighten"] == pytest.approx(27 / 30)
    assert row(train, "US", "2025-04")["pol_regime"] == "licensing"
    # Geneva (partial, from 05-14) then London (yes, from 06-10): US only
    assert row(train, "US", "2025-05")["pol_ease"] == pytest.approx(0.5 * 18 / 31)
    assert row(train, "US", "2025-06")["pol_ease"] == pytest.approx(0.5 + 21 / 30)
    assert row(train, "US", "2025-06")["pol_regime"] == "licensing+dest_ease"
    assert row(train, "DE", "2025-06")["pol_ease"] == 0
    # No. 70 suspension + first general licences (12-02); MOFCOM statements weigh nothing
    assert row(train, "DE", "2025-12")["pol_ease"] == pytest.approx(1 + 30 / 31)
    # Japan: tightening from January 2026, not before
    assert row(train, "JP", "2025-12")["pol_regime_dest_tighten"] == 0
    assert row(train, "JP", "2026-01")["pol_regime_dest_tighten"] == 1
    assert row(train, "JP", "2026-01")["pol_tighten"] > row(train, "DE", "2026-01")["pol_tighten"]
    # EU entity listing (partial, 2026-04-24) reaches Germany, not WORLD/OTHER
    assert row(train, "DE", "2026-05")["pol_tighten"] == pytest.approx(1.5)
    for uid in (WORLD, OTHER):
        assert row(train, uid, "2026-05")["pol_tighten"] == pytest.approx(1.0)
        assert train.loc[train[ID_COL] == uid, "pol_regime"].str.contains("dest").sum() == 0


def test_announced_vs_effective_second_round(calendar: pd.DataFrame) -> None:
    train, _ = build_policy(flat_panel(), h=1, as_of="2025-12", events=calendar)
    sep, oct_, nov = (row(train, "DE", m) for m in ("2025-09", "2025-10", "2025-11"))
    assert sep["pol_regime"] == "licensing" and sep["pol_pending"] == 0
    # announced 2025-10-09, due 2025-11-08 (yes) / 2025-12-01 (partial): pending from the 9th
    assert oct_["pol_regime"] == "second_round_pending"
    assert oct_["pol_regime_second_round_pending"] == 1
    assert oct_["pol_pending"] == pytest.approx(1.5 * 23 / 31)
    assert oct_["pol_tighten"] == pytest.approx(1.0)
    # suspended 2025-11-07 (No. 70), before it took effect: not in force
    assert nov["pol_regime"] == "second_round_suspended"
    assert nov["pol_regime_second_round_in_force"] == 0
    assert nov["pol_tighten"] == pytest.approx(1.0)
    assert nov["pol_pending"] == pytest.approx(1.5 * 6 / 30)


def _after(calendar: pd.DataFrame, cutoff: str) -> pd.Series:
    return calendar["announced"] >= pd.Timestamp(cutoff) + pd.offsets.MonthBegin(1)


@pytest.mark.parametrize("cutoff", ["2025-03", "2025-09", "2025-10", "2026-01"])
def test_no_look_ahead_train(calendar: pd.DataFrame, cutoff: str) -> None:
    """Deleting, perturbing or adding events announced after the cutoff leaves rows <= cutoff."""
    panel = flat_panel(end="2026-04")
    late = _after(calendar, cutoff)
    assert late.any()
    perturbed = calendar.copy()
    perturbed.loc[late, "direction"] = perturbed.loc[late, "direction"].map(
        {"tighten": "ease", "ease": "tighten", "neutral": "tighten"})
    perturbed.loc[late, ["magnets", "destinations", "effective"]] = [
        "yes", "ALL", pd.Timestamp("2024-02-01")]
    perturbed.loc[late, "ends"] = pd.NaT
    retro = pd.DataFrame([event("2026-04-02", "2023-01-01", destinations="US DE"),
                          event("2026-04-03", "2024-06-01", kind="suspension",
                                direction="ease", suspends="2025-04-04")])
    variants = {"deleted": calendar.loc[~late], "perturbed": perturbed,
                "added": pd.concat([calendar, retro], ignore_index=True)}
    cut = pd.Timestamp(cutoff)
    base, _ = build_policy(panel, h=2, as_of="2026-04", events=calendar)
    for name, events in variants.items():
        other, _ = build_policy(panel, h=2, as_of="2026-04", events=events)
        early = base[TIME_COL] <= cut
        pd.testing.assert_frame_equal(base.loc[early], other.loc[early], obj=name)
        assert not base.loc[~early].equals(other.loc[~early]), name


def test_future_ignores_later_events_unless_scenario_or_realised(calendar: pd.DataFrame) -> None:
    panel = flat_panel(end="2025-09")
    known = calendar.loc[~_after(calendar, "2025-09")]
    _, full = build_policy(panel, h=6, as_of="2025-09", events=calendar)
    _, truncated = build_policy(panel, h=6, as_of="2025-09", events=known)
    pd.testing.assert_frame_equal(full, truncated)
    assert row(full, "DE", "2025-11")["pol_regime"] == "licensing"
    assert row(full, "DE", "2025-11")["pol_pending"] == 0

    _, foreseen = build_policy(panel, h=6, as_of="2025-09", events=calendar, realised=True)
    assert row(foreseen, "DE", "2025-10")["pol_regime"] == "second_round_pending"
    assert row(foreseen, "DE", "2025-11")["pol_regime"] == "second_round_suspended"

    jp = Scenario("jp", "a Japan curb", scenario_events(
        [{k: v for k, v in event("2025-11-01", destinations="JP").items() if k != "announced"}],
        source="jp.yaml"))
    _, scen = build_policy(panel, h=6, as_of="2025-09", events=calendar, scenario=jp)
    assert row(scen, "JP", "2025-11")["pol_tighten"] == pytest.approx(2.0)
    assert row(scen, "JP", "2025-10")["pol_pending"] == pytest.approx(1.0)
    assert row(scen, "DE", "2025-11")["pol_tighten"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def futures(calendar: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Future features under each named scenario, bundled calendar, as_of 2025-12, h=12."""
    panel = flat_panel()
    return {name: build_policy(panel, h=12, as_of="2025-12", events=calendar,
                               scenario=composed_scenario(name))[1]
            for name in ("status_quo", "controls_reimposed", "easing")}


def test_controls_reimposed_differs_from_status_quo_from_november_2026(
        futures: dict[str, pd.DataFrame]) -> None:
    quo, reimposed = futures["status_quo"], futures["controls_reimposed"]
    before = quo[TIME_COL] < pd.Timestamp("2026-11-01")
    pd.testing.assert_frame_equal(quo.loc[before], reimposed.loc[before])
    for uid in IDS:
        for month in ("2026-11", "2026-12"):
            q, r = row(quo, uid, month), row(reimposed, uid, month)
            assert r["pol_tighten"] > q["pol_tighten"]
            assert r["pol_regime"].startswith("second_round_in_force")
            assert q["pol_regime"].startswith("second_round_suspended")
    # in force from 2026-11-10: 21 of November's 30 days, yes + partial
    assert row(reimposed, "DE", "2026-11")["pol_tighten"] == pytest.approx(1 + 1.5 * 21 / 30)


@pytest.mark.parametrize("as_of", ["2025-12", "2026-05"])
def test_status_quo_changes_nothing_at_november_2026(calendar: pd.DataFrame, as_of: str) -> None:
    _, quo = build_policy(flat_panel(end=as_of), h=12, as_of=as_of, events=calendar,
                          scenario=composed_scenario("status_quo"))
    cols = ["pol_tighten", "pol_ease", "pol_pending", "pol_regime", *REGIME_COLUMNS]
    for uid in IDS:
        oct_ = row(quo, uid, "2026-10")[cols]
        for month in ("2026-11", "2026-12"):
            pd.testing.assert_series_equal(row(quo, uid, month)[cols], oct_, check_names=False)


def test_easing_lowers_tightening_in_every_future_month(futures: dict[str, pd.DataFrame]) -> None:
    quo, easing = futures["status_quo"], futures["easing"]
    assert (easing["pol_tighten"].to_numpy() < quo["pol_tighten"].to_numpy()).all()
    assert (easing["pol_ease"].to_numpy() > quo["pol_ease"].to_numpy()).all()
    assert (easing["pol_regime_none"] == 1).all()


def test_suspension_ends_reinstates_and_partial_months() -> None:
    events = pd.DataFrame([
        event("2024-03-16"),                                    # licensing, mid-March
        event("2024-05-01", "2024-07-01", magnets="partial"),   # second round, due July
        event("2024-06-10", "2024-06-10", ends="2024-10-01", kind="suspension",
              direction="ease")])                               # no `suspends`: inferred
    train, _ = build_policy(flat_panel(["KR"], "2024-01", "2024-12"), h=1, as_of="2024-12",
                            events=events)
    assert row(train, "KR", "2024-03")["pol_tighten"] == pytest.approx(16 / 31)
    assert row(train, "KR", "2024-05")["pol_pending"] == pytest.approx(0.5)
    assert row(train, "KR", "2024-06")["pol_pending"] == pytest.approx(0.5 * 9 / 30)
    assert row(train, "KR", "2024-06")["pol_ease"] == pytest.approx(21 / 30)
    for month in ("2024-07", "2024-09"):
        assert row(train, "KR", month)["pol_tighten"] == 1.0
        assert row(train, "KR", month)["pol_regime"] == "second_round_suspended"
    # the suspension ended on 2024-10-01 without renewal: the second round is in force again
    assert row(train, "KR", "2024-10")["pol_tighten"] == 1.5
    assert row(train, "KR", "2024-10")["pol_regime"] == "second_round_in_force"
    assert row(train, "KR", "2024-10")["pol_months_in_regime"] == 0
    assert row(train, "KR", "2024-12")["pol_months_in_regime"] == 2


def test_ramp_and_decay_follow_first_order_lag() -> None:
    events = pd.DataFrame([event("2024-03-01", ends="2024-09-01"),
                           event("2024-09-01", direction="ease", kind="licence")])
    train, _ = build_policy(flat_panel(["IN"], "2024-01", "2025-02"), h=1, as_of="2025-02",
                            events=events, ramp_months=2.0)
    ramp = train["pol_ramp"].to_numpy()
    k = np.arange(6)
    np.testing.assert_allclose(ramp[2:8], 1 - np.exp(-(k + 1) / 2.0))
    assert ramp[8] < ramp[7]  # tightening ended: the ramp relaxes
    np.testing.assert_allclose(train["pol_decay"].to_numpy()[8:14], 1 - np.exp(-(k + 1) / 2.0))
    with pytest.raises(ValueError, match="ramp_months"):
        build_policy(flat_panel(["IN"]), h=1, as_of="2024-06", events=events, ramp_months=0)


def test_bad_suspends_names_the_column() -> None:
    events = pd.DataFrame([event("2024-03-01"),
                           event("2024-04-01", kind="suspension", direction="ease",
                                 suspends="2024-13-45")])
    with pytest.raises(InputError, match=r"row 1, column 'suspends'"):
        build_policy(flat_panel(["IN"]), h=1, as_of="2024-06", events=events)


def test_recovers_known_regime_effect() -> None:
    """Exports to JP halve from a synthetic regime start; LinearRegression recovers 0.5 +/- 0.1."""
    rng = np.random.default_rng(7)
    ids, ds = ["DE", "US", "JP"], pd.date_range("2021-01-01", periods=48, freq="MS")
    start = pd.Timestamp("2023-03-01")
    level = np.array([800.0, 300.0, 150.0])[:, None]
    season = 1 + 0.25 * np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    factor = np.where((np.array(ids)[:, None] == "JP") & (ds >= start)[None, :], 0.5, 1.0)
    y = level * season * factor * rng.lognormal(0, 0.08, size=(3, 48))
    panel = pd.DataFrame({ID_COL: np.repeat(ids, 48), TIME_COL: np.tile(ds, 3),
                          TARGET_COL: y.ravel(), "status": "reported"})
    events = pd.DataFrame([event("2023-02-20", "2023-03-01", destinations="JP")])
    train, _ = build_policy(panel, h=1, as_of=ds[-1], events=events)
    data = panel.merge(train, on=[ID_COL, TIME_COL])
    assert data["pol_tighten"].sum() == 22  # 22 JP months under the regime
    X = pd.concat([pd.get_dummies(data[TIME_COL].dt.month, prefix="m", drop_first=True),
                   pd.get_dummies(data[ID_COL], prefix="id", drop_first=True),
                   data[["pol_tighten"]]], axis=1).astype(float)
    fit = LinearRegression().fit(X, np.log1p(data[TARGET_COL]))
    recovered = float(np.exp(fit.coef_[-1]))
    assert abs(recovered - 0.5) <= 0.1, recovered
