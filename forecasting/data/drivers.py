"""Load and validate the demand-driver figures (yearly, monthly, quarterly or ranged periods)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from forecasting.schema import InputError

DEMAND_DRIVERS_PATH = Path(__file__).parent / "bundled" / "sources" / "demand_drivers.csv"

DRIVER_COLUMNS: tuple[str, ...] = (
    "period", "driver", "value", "approx", "unit", "source_url", "quote")
_MONTH = r"\d{4}-(0[1-9]|1[0-2])"
PERIOD_RE = re.compile(rf"^(\d{{4}}|{_MONTH}|\d{{4}}-Q[1-4]|{_MONTH}\.\.{_MONTH})$")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
VALUE_RE = re.compile(rf"^(?P<approx>~)?\s*(?P<lo>{_NUMBER})(?:\s*-\s*(?P<hi>{_NUMBER}))?$")


def parse_value(text: str) -> tuple[float, bool]:
    """Parse "12.5", "~30" or "60000-70000" into (value, approx); a range gives its midpoint."""
    match = VALUE_RE.match(text.replace(",", "").strip())
    if match is None:
        raise ValueError(f"value {text!r} is not a number, '~number' or 'low-high'")
    lo = float(match["lo"])
    if match["hi"] is None:
        return lo, match["approx"] is not None
    return (lo + float(match["hi"])) / 2, True


def load_demand_drivers(path: str | Path | None = None) -> pd.DataFrame:
    """Read a demand-driver CSV (default: the bundled one; `year` or `period` column); validate."""
    path = Path(path) if path is not None else DEMAND_DRIVERS_PATH
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "period" not in df.columns and "year" in df.columns:
        df = df.rename(columns={"year": "period"})
    needed = [c for c in DRIVER_COLUMNS if c != "approx"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(path, f"demand drivers lack column(s) {missing}", column=missing[0])
    out = df.loc[:, needed].copy()
    values, approx = [], []
    for i, (period, text) in enumerate(zip(out["period"], out["value"], strict=True)):
        if not PERIOD_RE.match(period.strip()):
            raise InputError(path, f"period {period!r} is not YYYY, YYYY-MM, YYYY-Qn or "
                             "YYYY-MM..YYYY-MM", row=i, column="period")
        try:
            value, is_approx = parse_value(text)
        except ValueError as err:
            raise InputError(path, str(err), row=i, column="value") from err
        values.append(value)
        approx.append(is_approx)
    out["period"] = out["period"].str.strip()
    out["driver"] = out["driver"].str.strip()
    out["value"] = pd.Series(values, index=out.index, dtype=float)
    out["approx"] = pd.Series(approx, index=out.index, dtype=bool)
    return out.loc[:, list(DRIVER_COLUMNS)]
