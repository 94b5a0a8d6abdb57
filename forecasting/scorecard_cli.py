"""`forecast-scorecard`: score every publication in a directory against the figures known now."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from forecasting.inputs import load_input
from forecasting.schema import DEFAULT_DESTINATIONS, InputError
from forecasting.scorecard import CARD_NAME, find_publications, scorecard, write_scorecard

EXIT_BAD_INPUT = 2


def data_config(publish_dir: Path, *, path: str | None, fmt: str | None) -> dict:
    """The newest publication's `data` config (its destinations, hierarchy), with the file
    and format given on the command line; the bundled data's defaults when there is none."""
    pubs = find_publications(publish_dir)
    data = dict((pubs[-1].manifest.get("config") or {}).get("data") or {}) if pubs else {}
    data.setdefault("destinations", list(DEFAULT_DESTINATIONS))
    if path is not None:
        data |= {"path": path, "format": fmt or "auto", "month": None}
    elif fmt is not None:
        data["format"] = fmt
    return data


def main(argv: Sequence[str] | None = None) -> None:
    """Console script `forecast-scorecard`."""
    parser = argparse.ArgumentParser(prog="forecast-scorecard", description=__doc__)
    parser.add_argument("--publish-dir", default="published", type=Path,
                        help="directory of the publications (default: published)")
    parser.add_argument("--data", default=None,
                        help="data file known now (default: the newest manifest's data.path, "
                        "the bundled data when that is null)")
    parser.add_argument("--format", default=None,
                        help="format of --data: auto, plain, customs, comtrade, long")
    parser.add_argument("--out", default=CARD_NAME, type=Path,
                        help=f"where to write the scored cells (default: ./{CARD_NAME})")
    args = parser.parse_args(argv)
    try:
        data = load_input(data_config(args.publish_dir, path=args.data, fmt=args.format))
        card = scorecard(args.publish_dir, data)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    print(card.table())
    if card.publications:
        print(f"\ncells: {write_scorecard(card, args.out)}")
