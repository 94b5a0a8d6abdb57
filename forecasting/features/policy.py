"""Policy-state features per destination and month from the dated policy calendar, no look-ahead.

Conventions (docs/policy_features.md has the full reference):

- An event is in force on the days [effective, ends); numeric features count the fraction of the
  month's days it covers (No. 18, effective 2025-04-04, weighs 27/30 in April 2025).
- The regime columns describe the state on the month's last day.
- The features of month t use only events announced by the end of t (and by the end of the as_of
  month); months after as_of use the events known at as_of plus the scenario's events.
- A ``suspension`` event suspends the tighten events announced on the dates in its optional
  ``suspends`` column (space-separated YYYY-MM-DD). Without it, it suspends the tighten events of
  the latest earlier announcement date with exactly its destinations (No. 70 -> the 2025-10-09
  package). When the suspension ends, the suspended events are in force again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.data.policy_calendar import (
    ALL_DESTINATIONS,
    load_policy_events,
    validate_policy_events,
)
from forecasting.data.suspensions import SUSPENDS_COL, with_suspends
from forecasting.features.base import KEYS, future_keys, future_months, to_month, train_keys
from forecasting.scenarios import Scenario, as_scenario
from forecasting.schema import ID_COL, TIME_COL

MAGNET_WEIGHTS: dict[str, float] = {"yes": 1.0, "partial": 0.5, "no": 0.0}
EU27: frozenset[str] = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})
# Statements and dialogues reaffirm or discuss measures already in the calendar: weight 0.
INFORMATIONAL_KINDS: frozenset[str] = frozenset({"statement", "dialogue"})
BASE_REGIMES: tuple[str, ...] = (
    "none", "licensing", "second_round_pending", "second_round_in_force", "second_round_suspended")
DEST_FLAGS: tuple[str, ...] = ("dest_ease", "dest_tighten")
REGIME_COLUMNS: tuple[str, ...] = tuple(f"pol_regime_{n}" for n in (*BASE_REGIMES, *DEST_FLAGS))
FEATURE_COLUMNS: tuple[str, ...] = (
    "pol_tighten", "pol_ease", "pol_pending", "pol_ramp", "pol_decay", "pol_regime",
    "pol_months_in_regime", *REGIME_COLUMNS)
_DAY = pd.Timedelta(days=1)


def calendar_events(events: pd.DataFrame | None = None, *,
                    source: object = "<policy events>") -> pd.DataFrame:
    """The bundled calendar (events=None) or `events`, validated, with `suspends`, by announced."""
    if events is None:
        out = with_suspends(load_policy_events(), pd.DataFrame(), source=source)
    else:
        raw = events.reset_index(drop=True)
        out = with_suspends(validate_policy_events(raw, source=source), raw, source=source)
    return out.sort_values("announced", kind="stable", ignore_index=True)


def covers(destinations: str, unique_id: str) -> bool:
    """Whether an event's destinations (ALL or ISO-2 codes, EU = EU-27) apply to a series."""
    if destinations == ALL_DESTINATIONS:
        return True
    codes = set(destinations.split())
    return unique_id in codes or ("EU" in codes and unique_id in EU27)


def _suspension_matrix(events: pd.DataFrame) -> np.ndarray:
    """Boolean (suspension, event) matrix: which tighten events each suspension suspends."""
    tighten = events["direction"].eq("tighten").to_numpy()
    dest_sets = [frozenset(d.split()) for d in events["destinations"]]
    out = np.zeros((len(events), len(events)), dtype=bool)
    for s in np.flatnonzero(events["kind"].eq("suspension").to_numpy()):
        dates = events[SUSPENDS_COL].iat[s]
        if not dates:
            same = tighten & (events["announced"] < events["announced"].iat[s]).to_numpy() & (
                np.array([d == dest_sets[s] for d in dest_sets]))
            dates = (events["announced"][same].max(),) if same.any() else ()
        out[s] = tighten & events["announced"].isin(dates).to_numpy()
    return out


def _lagged(x: np.ndarray, ramp_months: float) -> np.ndarray:
    """First-order lag: a unit step k months ago gives 1 - exp(-(k + 1) / ramp_months)."""
    rate = 1.0 - np.exp(-1.0 / ramp_months)
    out, state = np.empty_like(x), 0.0
    for i, value in enumerate(x):
        state += rate * (value - state)
        out[i] = state
    return out


def _months_in_run(labels: np.ndarray) -> np.ndarray:
    """Months since the start of the current run of equal labels (0 in its first month)."""
    idx = np.arange(len(labels))
    starts = np.r_[True, labels[1:] != labels[:-1]]
    return idx - np.maximum.accumulate(np.where(starts, idx, 0))


@dataclass(frozen=True)
class _DayGrid:
    """Series-independent day-level state of a set of events over a month grid."""

    months: pd.DatetimeIndex
    pos: np.ndarray          # first day of each month (index into the day axis)
    length: np.ndarray       # days in each month
    live: np.ndarray         # (event, day): effective <= day < ends
    announced: np.ndarray    # (event, day): announced <= day
    before: np.ndarray       # (event, day): day < effective
    unexpired: np.ndarray    # (event, day): day < ends
    suspends: np.ndarray     # (suspension, event)
    weight: np.ndarray
    tighten: np.ndarray
    ease: np.ndarray
    is_all: np.ndarray
    rounds: np.ndarray       # (event, announcement date) one-hot

    @classmethod
    def build(cls, events: pd.DataFrame, months: pd.DatetimeIndex) -> _DayGrid:
        """Day masks of `events` over the days of `months`."""
        days = np.arange(months[0].to_datetime64(),
                         (months[-1] + pd.offsets.MonthBegin(1)).to_datetime64(),
                         dtype="datetime64[D]")
        pos = (months.to_numpy("datetime64[D]") - days[0]).astype(np.int64)
        announced, effective, ends = (events[c].to_numpy("datetime64[D]")[:, None]
                                      for c in ("announced", "effective", "ends"))
        unexpired = np.isnat(ends) | (days < ends)
        direction = events["direction"].to_numpy()
        return cls(months=months, pos=pos, length=np.diff(np.r_[pos, len(days)]),
                   live=(days >= effective) & unexpired, announced=days >= announced,
                   before=days < effective, unexpired=unexpired,
                   suspends=_suspension_matrix(events),
                   weight=np.where(events["kind"].isin(INFORMATIONAL_KINDS), 0.0,
                                   events["magnets"].map(MAGNET_WEIGHTS).to_numpy(dtype=float)),
                   tighten=direction == "tighten", ease=direction == "ease",
                   is_all=events["destinations"].eq(ALL_DESTINATIONS).to_numpy(),
                   rounds=pd.get_dummies(events["announced"]).to_numpy(dtype=bool))

    def series_features(self, cover: np.ndarray, ramp_months: float) -> dict[str, np.ndarray]:
        """Monthly feature arrays of one series, given which events cover it."""
        suspended = np.zeros_like(self.live)
        for s in np.flatnonzero(cover & self.suspends.any(axis=1)):
            suspended[self.suspends[s] & cover] |= self.live[s]
        in_force = self.live & ~suspended
        pending = self.announced & self.before & ~suspended
        held = self.announced & suspended & self.unexpired
        last = self.pos + self.length - 1
        weight = self.weight * cover
        tighten, ease = self.tighten & (weight > 0), self.ease & (weight > 0)

        def monthly(mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return (weight * rows) @ (np.add.reduceat(mask, self.pos, axis=1) / self.length)

        def at_month_end(mask: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return mask[rows][:, last]

        base = tighten & self.is_all
        n_rounds = (self.rounds[base].T @ at_month_end(in_force, base)).sum(axis=0)
        base_regime = np.select(
            [n_rounds == 0, n_rounds >= 2, at_month_end(pending, base).any(axis=0),
             at_month_end(held, base).any(axis=0)],
            ["none", "second_round_in_force", "second_round_pending", "second_round_suspended"],
            default="licensing")
        flags = {"dest_ease": at_month_end(in_force, ease & ~self.is_all).any(axis=0),
                 "dest_tighten": at_month_end(in_force, tighten & ~self.is_all).any(axis=0)}
        regime = np.array([b + "".join(f"+{n}" for n, f in flags.items() if f[i])
                           for i, b in enumerate(base_regime)], dtype=object)
        out = {"pol_tighten": monthly(in_force, tighten), "pol_ease": monthly(in_force, ease),
               "pol_pending": monthly(pending, tighten)}
        out["pol_ramp"] = _lagged(out["pol_tighten"], ramp_months)
        out["pol_decay"] = _lagged(out["pol_ease"], ramp_months)
        out["pol_regime"] = regime
        out["pol_months_in_regime"] = _months_in_run(regime)
        for name in BASE_REGIMES:
            out[f"pol_regime_{name}"] = (base_regime == name).astype(float)
        for name, flag in flags.items():
            out[f"pol_regime_{name}"] = flag.astype(float)
        return out


def policy_path(events: pd.DataFrame, *, unique_ids: list[str], start: pd.Timestamp | str,
                end: pd.Timestamp | str, ramp_months: float = 3.0) -> pd.DataFrame:
    """Monthly policy features per series from start to end, taking all of `events` as known.

    `events` are prepared as by `calendar_events` (announced and effective filled). The month grid
    is extended back to the earliest event so the lagged features have run in.
    """
    if ramp_months <= 0:
        raise ValueError(f"ramp_months must be positive, got {ramp_months}")
    start, end = to_month(start), to_month(end)
    first = min([start, *([to_month(events["effective"].min())] if len(events) else [])])
    grid = _DayGrid.build(events, pd.date_range(first, end, freq="MS"))
    keep = grid.months >= start
    by_cover: dict[tuple[bool, ...], pd.DataFrame] = {}
    frames = []
    for uid in unique_ids:
        cover = tuple(covers(d, uid) for d in events["destinations"])
        if cover not in by_cover:
            feats = grid.series_features(np.array(cover, dtype=bool), ramp_months)
            by_cover[cover] = pd.DataFrame({TIME_COL: grid.months, **feats}).loc[keep]
        frames.append(by_cover[cover].assign(**{ID_COL: uid}))
    columns = [ID_COL, TIME_COL, *FEATURE_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).loc[:, columns]


def _scenario_events(scenario: Scenario, first_month: pd.Timestamp) -> pd.DataFrame:
    """Scenario events applied from first_month: unknown announcement = known at as_of."""
    out = with_suspends(scenario.events, scenario.events, source=f"scenario {scenario.name}")
    out["announced"] = out["announced"].fillna(first_month - _DAY)
    out["effective"] = out["effective"].fillna(first_month).clip(lower=first_month)
    return out.loc[out["ends"].isna() | (out["ends"] > out["effective"])]


def build_policy(panel: pd.DataFrame, *, h: int, as_of: pd.Timestamp | str,
                 scenario: Scenario | Mapping | None = None,
                 events: pd.DataFrame | None = None, ramp_months: float = 3.0,
                 realised: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Policy-state features of every panel row up to as_of and of the h months after it.

    Row t <= as_of uses the events announced by the end of month t; future rows use the events
    announced by the end of the as_of month plus `scenario`'s events (which apply only after
    as_of). `events` defaults to the bundled calendar. `realised=True` (studies only) also
    feeds future rows the calendar's events announced after as_of, as if foreseen. `scenario` may
    also be a scenario config mapping (name, description, events).
    """
    scenario = as_scenario(scenario)
    as_of = to_month(as_of)
    horizon = future_months(as_of, h)
    calendar = calendar_events(events)
    train, future = train_keys(panel, as_of), future_keys(panel, as_of, h)
    ids = sorted(set(train[ID_COL]) | set(future[ID_COL]))
    start = train[TIME_COL].min() if len(train) else horizon[0]

    announced = calendar["announced"].to_numpy("datetime64[ns]")
    month_ends = (train[TIME_COL] + pd.offsets.MonthBegin(1)).to_numpy("datetime64[ns]")
    n_known = np.searchsorted(announced, month_ends, side="left")
    parts = []
    for k in np.unique(n_known):
        rows = train.loc[n_known == k]
        path = policy_path(calendar.iloc[:k], unique_ids=ids, start=start,
                           end=rows[TIME_COL].max(), ramp_months=ramp_months)
        parts.append(rows.merge(path, on=list(KEYS), how="left"))
    columns = [*KEYS, *FEATURE_COLUMNS]
    train_df = (pd.concat(parts).sort_values(list(KEYS), ignore_index=True).loc[:, columns]
                if parts else pd.DataFrame(columns=columns))

    seen = calendar if realised else calendar.loc[calendar["announced"] < horizon[0]]
    if scenario is not None:
        seen = pd.concat([seen, _scenario_events(scenario, horizon[0])], ignore_index=True)
    path = policy_path(seen, unique_ids=ids, start=start, end=horizon[-1],
                       ramp_months=ramp_months)
    future_df = future.merge(path, on=list(KEYS), how="left").loc[:, columns]
    return train_df, future_df
