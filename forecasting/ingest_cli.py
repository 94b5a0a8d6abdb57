"""`forecast-ingest FILE`: add a customs, Comtrade, plain or long file to the figure store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from forecasting.data.load import FORMATS, detect_format, load_panel
from forecasting.data.store import (
    DEFAULT_PRODUCT,
    IngestReport,
    default_store_path,
    format_report,
    ingest,
)
from forecasting.schema import InputError
from forecasting.settings import SAFE_NAME

EXIT_BAD_INPUT = 2
DATE_FORMAT = "%Y-%m-%d"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecast-ingest",
        description="Add a file's figures to the store as a new vintage (the date they became "
                    "known) and print what is new, what was revised and what conflicts. "
                    "Nothing is ever deleted; ingesting the same file again changes nothing.",
        epilog="Exit codes: 0 ingested (or nothing new), 2 bad file or option (store untouched).")
    parser.add_argument("file", type=Path, help="customs, Comtrade, plain or long CSV (.gz ok)")
    parser.add_argument("--vintage", help="YYYY-MM-DD the figures became known (default: "
                        "today, UTC; none of the formats carries a release date)")
    parser.add_argument("--store", type=Path, default=None,
                        help=f"the SQLite store (default: ./{default_store_path().name})")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="file format (default: detected from the header)")
    parser.add_argument("--month", default=None,
                        help="YYYY-MM of a customs file without a month column")
    parser.add_argument("--product", default=DEFAULT_PRODUCT,
                        help=f"what the figures measure (default: {DEFAULT_PRODUCT}; the job "
                        "reads data.product, or several with data.products)")
    return parser


def _vintage(text: str | None) -> pd.Timestamp:
    """The --vintage date, or today (UTC)."""
    if text is None:
        return pd.Timestamp(datetime.now(UTC).date())
    try:
        return pd.Timestamp(datetime.strptime(text, DATE_FORMAT))
    except ValueError as err:
        raise InputError("--vintage", f"{text!r} is not a date YYYY-MM-DD") from err


def run(file: Path, *, vintage: str | None = None, store: Path | None = None,
        fmt: str = "auto", month: str | None = None,
        product: str = DEFAULT_PRODUCT) -> IngestReport:
    """Load `file` whole (InputError on the first bad cell, before the store is opened) and
    ingest it as of `vintage`."""
    when = _vintage(vintage)
    if not SAFE_NAME.fullmatch(product):
        raise InputError("--product", f"{product!r} is not a safe name (letters, digits, "
                         "'_', '-', '.')")
    if not file.is_file():
        raise InputError(file, "no such file")
    fmt = detect_format(file) if fmt == "auto" else fmt
    panel = load_panel(file, format=fmt, month=month)
    return ingest(store or default_store_path(), panel, file=file, fmt=fmt, vintage=when,
                  product=product)


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `forecast-ingest`."""
    args = _parser().parse_args(argv)
    try:
        report = run(args.file, vintage=args.vintage, store=args.store, fmt=args.format,
                     month=args.month, product=args.product)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    print(format_report(report))


if __name__ == "__main__":
    main()
