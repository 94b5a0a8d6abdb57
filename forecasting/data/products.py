"""Several products in one panel: series ids `<product>/<id>`, split and joined back per product.

A panel of one product keeps its plain ids (DE, WORLD, ...). A panel of several products keys
every id by its product, `magnets/DE`, `rare_earths_headline/WORLD`; product names are safe
names (no `/`), so the product is the text before the first `/` of every id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pandas as pd

from forecasting.schema import ID_COL, TIME_COL

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a product (or scenario) name: no "/"
SEP = "/"
PRODUCT_COL = "product"
MIN_MONTHLY = 12  # a product with fewer monthly figures (reported or derived) is not forecast


def keyed(frame: pd.DataFrame, product: str) -> pd.DataFrame:
    """`frame` with every id keyed by `product` (`DE` -> `magnets/DE`)."""
    return frame.assign(**{ID_COL: product + SEP + frame[ID_COL].astype(str)})


def split_ids(ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The product and the plain id of each keyed id."""
    parts = ids.astype(str).str.partition(SEP)
    return parts[0], parts[2]


def by_product(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Per product (in sorted order), its rows of a keyed frame with plain ids."""
    product, plain = split_ids(frame[ID_COL])
    unkeyed = frame.assign(**{ID_COL: plain})
    for name, rows in unkeyed.groupby(product.to_numpy(), sort=True):
        yield str(name), rows


def per_product(frame: pd.DataFrame,
                step: Callable[[str, pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """`step(product, rows with plain ids)` for every product of a keyed frame, keyed again,
    sorted by id and month."""
    parts = [keyed(step(name, rows), name) for name, rows in by_product(frame)]
    return pd.concat(parts, ignore_index=True).sort_values([ID_COL, TIME_COL],
                                                           ignore_index=True)


def product_key(label: str) -> str:
    """The short key of a product label: `rare_earths_headline (17 elements, ...)` ->
    `rare_earths_headline`."""
    return label.split(" (", 1)[0].strip()
