"""The optional `suspends` column of policy events: which announcements a suspension suspends."""

from __future__ import annotations

import pandas as pd

from forecasting.schema import InputError

SUSPENDS_COL = "suspends"


def with_suspends(events: pd.DataFrame, raw: pd.DataFrame, *, source: object) -> pd.DataFrame:
    """Attach `suspends` (tuple of announcement dates) parsed from raw's optional column."""
    values = (raw[SUSPENDS_COL].tolist() if SUSPENDS_COL in raw.columns
              else [None] * len(events))
    parsed: list[tuple[pd.Timestamp, ...]] = []
    for i, value in enumerate(values):
        if isinstance(value, tuple):
            parsed.append(value)
            continue
        if isinstance(value, list):
            value = " ".join(map(str, value))
        text = "" if value is None or pd.isna(value) else str(value)
        try:
            dates = tuple(pd.Timestamp(part).normalize() for part in text.split())
        except ValueError as err:
            raise InputError(source, f"cannot parse the dates in {text!r}", row=i,
                             column=SUSPENDS_COL) from err
        if dates and events["kind"].iat[i] != "suspension":
            raise InputError(source, f"only a suspension may name suspends, not a "
                             f"{events['kind'].iat[i]!r} event", row=i, column=SUSPENDS_COL)
        parsed.append(dates)
    out = events.copy()
    out[SUSPENDS_COL] = pd.Series(parsed, index=out.index, dtype=object)
    return out
