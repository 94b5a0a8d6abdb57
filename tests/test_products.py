"""Several products in one job: store round trip, coherence per product, the product column."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from forecasting.cli import CONF_DIR
from forecasting.data.products import SEP, keyed
from forecasting.data.store import FIRST_COL, VINTAGE_COL, bundled_figures, read_figures
from forecasting.ingest_cli import run as ingest
from forecasting.inputs import load_input
from forecasting.job import run_job
from forecasting.publish import (
    PUBLIC_COLUMNS,
    publish,
    read_history,
    read_published,
    validate_forecast,
)
from forecasting.reconcile import FORECAST_COL, interval_columns, reconcile
from forecasting.schema import (
    DERIVED,
    ESTIMATED,
    ID_COL,
    REPORTED,
    STATUS_COL,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
)
from tests.conftest import build_panel
from tests.test_store import CHEAP_MODELS, figures_in, write_plain

REPO = Path(__file__).resolve().parents[1]
HEADLINE = "rare_earths_headline"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two synthetic products: `alpha` (DE, US, KR + WORLD) and `beta` (DE, US +
    WORLD), 48 months 2019-01..2022-12: up to 2022-06 known on 2022-07-15, each later month
    released mid next month."""
    tmp = tmp_path_factory.mktemp("products")
    path = tmp / "s.db"
    for product, n_series, seed in (("alpha", 3, 1), ("beta", 2, 2)):
        panel = build_panel(n_series=n_series, months=48, seed=seed)
        month = panel[TIME_COL].dt.strftime("%Y-%m")
        later = sorted(set(month[month > "2022-06"]))
        releases = {"2022-07-15": month <= "2022-06"} | {
            f"{pd.Period(m, 'M') + 1}-15": month == m for m in later}
        for vintage, rows in releases.items():
            ingest(write_plain(tmp / f"{product}_{vintage}.csv", panel[rows]), vintage=vintage,
                   store=path, product=product)
    return path


def cfg_for(store: Path, products: str, *overrides: str):
    """The real conf/ with data=store, cheap models, a fixed pick and no calibration (so each
    series' forecast depends on that series only), nothing tracked or drawn."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            "data=store", f"data.store={store}", f"data.products={products}", *CHEAP_MODELS,
            "backtest.h=2", "backtest.n_windows=2", "backtest.n_jobs=1", "publish.h=3",
            "backtest.calibrate=false", "publish.choice=Naive", "progress=false",
            "plots=false", "tracking.enabled=false", *overrides])


def test_a_store_round_trip_keeps_each_product_apart(store: Path) -> None:
    several = load_input(cfg_for(store, "[alpha,beta]").data)
    assert several.several and several.hierarchy == "world"
    panel = several.panel_at(several.last_month)
    assert set(panel[ID_COL]) == {"alpha/DE", "alpha/US", "alpha/KR", "alpha/OTHER",
                                  "alpha/WORLD", "beta/DE", "beta/US", "beta/OTHER", "beta/WORLD"}
    for product in ("alpha", "beta"):  # each product's part is its own one-product panel
        alone = load_input(cfg_for(store, f"[{product}]", "data.hierarchy=world").data)
        assert not alone.several
        own = panel[panel[ID_COL].str.startswith(product + SEP)].reset_index(drop=True)
        pd.testing.assert_frame_equal(own, keyed(alone.panel_at(alone.last_month), product))
    assert "alpha/DE" in several.summary.modelled


def test_the_other_rare_earth_lines_are_seeded_as_their_own_products(store: Path) -> None:
    headline = read_figures(store, HEADLINE, sums=True)
    monthly = headline[headline[FIRST_COL] == headline[TIME_COL]]
    assert len(monthly) == 19 and set(headline[ID_COL]) == {WORLD}
    assert len(headline) - len(monthly) == 15  # year-to-date and span sums, kept as sums
    assert set(headline[STATUS_COL]) == {REPORTED}  # as printed; estimates are never stored
    sep = headline[(headline[TIME_COL] == "2025-09-01") & (headline[FIRST_COL] == "2025-09-01")]
    assert sep[TARGET_COL].item() == 4000.3
    assert sep[VINTAGE_COL].item() == pd.Timestamp("2025-10-31")  # published 2025-10-13
    # the magnets are exactly the bundled figures; no other line leaks into them
    magnets = read_figures(store, sums=True)
    assert len(magnets) == len(bundled_figures()) and 4343.5 not in set(magnets[TARGET_COL])
    with sqlite3.connect(store) as con:
        products = {p for (p,) in con.execute("SELECT DISTINCT product FROM figures")}
    assert products == {"magnets", "alpha", "beta", HEADLINE, "rare_earth_oxides_or_equivalents",
                        "india_imports_all_permanent_magnets", "rare_earths_broad_incl_magnets"}


def test_magnets_and_headline_rare_earths_in_one_panel(store: Path) -> None:
    data = load_input(cfg_for(store, f"[magnets,{HEADLINE}]").data)
    panel = data.panel_at(data.last_month)
    world = panel[panel[ID_COL] == f"{HEADLINE}/WORLD"].set_index(TIME_COL)
    magnets = panel[panel[ID_COL] == "magnets/WORLD"]
    assert world.index.max() == magnets[TIME_COL].max()  # runs on to the same last month
    assert world.loc["2025-10-01", TARGET_COL] == 4343.5
    assert world.loc["2025-10-01", STATUS_COL] == REPORTED
    assert world.loc["2025-11-01", STATUS_COL] == ESTIMATED  # not published: estimated
    assert (world[STATUS_COL] == REPORTED).sum() == 19
    assert set(world[STATUS_COL]) == {REPORTED, ESTIMATED}
    bundled = load_input(compose_default().data)
    pd.testing.assert_frame_equal(
        panel[panel[ID_COL].str.startswith("magnets/")].reset_index(drop=True),
        keyed(bundled.panel_at(bundled.last_month), "magnets"))


def compose_default():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config")


def keyed_forecasts(seed: int = 0) -> pd.DataFrame:
    """Base forecasts of two products with partners and one WORLD-only line, 3 months,
    deliberately incoherent."""
    rng = np.random.default_rng(seed)
    ids = ["a/DE", "a/US", "a/WORLD", "b/JP", "b/KR", "b/OTHER", "b/WORLD", "c/WORLD"]
    months = pd.date_range("2026-01-01", periods=3, freq="MS")
    frame = pd.DataFrame([(uid, ds) for uid in ids for ds in months], columns=[ID_COL, TIME_COL])
    frame[FORECAST_COL] = rng.uniform(100, 1000, len(frame))
    for i, col in enumerate(interval_columns()):  # lo-95, lo-80, hi-80, hi-95 around the point
        frame[col] = frame[FORECAST_COL] + (-40, -20, 20, 40)[i]
    frame["model"] = "Naive"
    return frame


@pytest.mark.parametrize("method", ["bottom_up", "mint_ols", "mint_wls_struct"])
def test_each_products_partners_add_up_to_its_own_world(method: str) -> None:
    base = keyed_forecasts()
    rec = reconcile(base, method=method, several=True)
    assert list(rec[ID_COL]) == list(base[ID_COL])  # row order kept
    product = rec[ID_COL].str.partition(SEP)[0]
    for name in ("a", "b"):
        rows = rec[product == name]
        world = rows[rows[ID_COL] == f"{name}/WORLD"].set_index(TIME_COL)[FORECAST_COL]
        parts = rows[rows[ID_COL] != f"{name}/WORLD"].groupby(TIME_COL)[FORECAST_COL].sum()
        np.testing.assert_allclose(world.to_numpy(), parts.to_numpy(), rtol=1e-9)
    # the WORLD-only line is its own total: left as forecast
    pd.testing.assert_frame_equal(rec[product == "c"], base[product == "c"])
    # no cross-product total: a's result is a reconciled alone, whatever b forecasts
    a_alone = reconcile(base[product == "a"].assign(**{ID_COL: lambda f: f[ID_COL].str[2:]}),
                        method=method)
    np.testing.assert_allclose(rec.loc[product == "a", FORECAST_COL], a_alone[FORECAST_COL])
    moved = base.copy()
    moved.loc[product == "b", FORECAST_COL] *= 3
    again = reconcile(moved, method=method, several=True)
    pd.testing.assert_frame_equal(again[product != "b"], rec[product != "b"])


@pytest.fixture(scope="module")
def published(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One job per product list, each publishing into its own directory; the two-product
    list publishes 2022-10 first, so its 2022-12 job scores that publication."""
    tmp = tmp_path_factory.mktemp("published")
    out = {}
    for name, products, as_of in (("alpha", "[alpha]", "null"), ("early", "[alpha,beta]",
                                                                 "2022-10"),
                                  ("both", "[alpha,beta]", "null")):
        result = run_job(cfg_for(store, products, "data.hierarchy=world", f"as_of={as_of}",
                                 f"publish.dir={tmp / 'both' if name == 'early' else tmp / name}"),
                         run_dir=tmp / f"run_{name}")
        out[name] = result.published.directory
        out[f"{name}_card"] = result.scorecard
    return out


def test_a_two_product_publication_is_scored_and_reported_per_product(
        published: dict[str, Path]) -> None:
    cells = published["both_card"].cells
    assert len(cells) > 0 and set(cells["as_of"]) == {"2022-10"}
    assert set(cells["destination"]) == {"alpha/DE", "alpha/US", "alpha/KR", "alpha/OTHER",
                                         "alpha/WORLD", "beta/DE", "beta/US", "beta/OTHER",
                                         "beta/WORLD"}
    report = (published["both"] / "report.html").read_text()
    # 2022-11 and 2022-12 of each of the 9 series are new; every earlier cell matched
    assert ("publication of <b>2022-10</b> (its <code>history.csv</code>): <b>18</b> new"
            in report)


def test_one_product_has_no_product_column(published: dict[str, Path]) -> None:
    pub = published["alpha"]
    header = (pub / "forecast_status_quo.csv").read_text().splitlines()[0]
    assert header == ",".join(PUBLIC_COLUMNS)
    assert "product" not in (pub / "history.csv").read_text().splitlines()[0]
    assert json.loads((pub / "manifest.json").read_text())["products"] == ["alpha"]


def test_two_products_get_a_product_column_with_every_row_right(
        published: dict[str, Path]) -> None:
    pub = published["both"]
    fc = read_published(pub / "forecast_status_quo.csv")
    assert list(fc.columns[:4]) == ["as_of", "scenario", "product", "destination"]
    assert {p: set(g) for p, g in fc.groupby("product")["destination"]} == {
        "alpha": {"DE", "US", "KR", "OTHER", "WORLD"}, "beta": {"DE", "US", "OTHER", "WORLD"}}
    for _, rows in fc.groupby("product"):  # coherent per product, up to the 0.1 t rounding
        world = rows[rows["destination"] == WORLD].set_index("month")["tonnes"]
        parts = rows[rows["destination"] != WORLD].groupby("month")["tonnes"].sum()
        np.testing.assert_allclose(world, parts, atol=0.05 * len(rows))
    # alpha's rows are, byte for byte, what the alpha-only job published
    alone = (published["alpha"] / "forecast_status_quo.csv").read_text().splitlines()
    both = pd.read_csv(pub / "forecast_status_quo.csv", dtype=str, keep_default_na=False)
    assert both.loc[both["product"] == "alpha"].drop(columns="product").to_csv(
        index=False, lineterminator="\n").splitlines() == alone
    history = read_history(pub / "history.csv")
    assert set(history["product"]) == {"alpha", "beta"}
    assert set(history["status"]) <= {REPORTED, DERIVED, ESTIMATED}
    assert json.loads((pub / "manifest.json").read_text())["products"] == ["alpha", "beta"]


def test_a_product_with_too_few_monthly_figures_exits_2_and_writes_nothing(
        store: Path, tmp_path: Path) -> None:
    before = figures_in(store)
    proc = subprocess.run(
        [sys.executable, "-m", "forecasting.cli", "data=store", f"data.store={store}",
         "data.products=[magnets,india_imports_all_permanent_magnets]",
         f"hydra.run.dir={tmp_path}/run", f"tracking.uri=sqlite:///{tmp_path}/m.db",
         f"publish.dir={tmp_path}/pub", "progress=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1
    assert ("product 'india_imports_all_permanent_magnets' has 0 monthly figure(s)" in lines[0]
            and "data.products" in lines[0])
    assert sorted(tmp_path.iterdir()) == []  # no run dir, tracking store or publication
    assert figures_in(store) == before


@pytest.mark.parametrize(("products", "fragment"), [
    ("[magnets,nothing]", "no figures of product 'nothing'"),
    ("[magnets,magnets]", "each once"),
    ("[magnets,a/b]", "is not a safe name"),
    ("magnets", "is not a list"),
])
def test_a_bad_products_setting_is_refused_before_anything_is_written(
        store: Path, tmp_path: Path, products: str, fragment: str) -> None:
    cfg = cfg_for(store, products, f"publish.dir={tmp_path}/pub")
    with pytest.raises(InputError, match=fragment) as err:
        run_job(cfg, run_dir=tmp_path / "run")
    assert err.value.column == "data.products"
    assert sorted(tmp_path.iterdir()) == []


def test_publishing_checks_coherence_per_product(tmp_path: Path) -> None:
    frame = reconcile(keyed_forecasts(), method="bottom_up", several=True)
    validate_forecast(frame, as_of="2025-12", several=True)
    broken = frame.copy()
    broken.loc[broken[ID_COL] == "b/JP", FORECAST_COL] += 1.0  # b's partners no longer add up
    with pytest.raises(InputError, match="product 'b'.*not coherent"):
        validate_forecast(broken, as_of="2025-12", several=True)
    with pytest.raises(InputError, match="not coherent"):
        publish({"status_quo": broken}, as_of="2025-12", out_dir=tmp_path, several=True)
    assert not any(tmp_path.iterdir())


def long_file(path: Path, *, bad: str | None = None) -> Path:
    """A long file of two products, `gallium` (CN-A, CN-B) and `germanium` (CN-A), 36 months."""
    rows = []
    for product, uid, seed in (("gallium", "CN-A", 1), ("gallium", "CN-B", 2),
                               ("germanium", "CN-A", 3)):
        y = build_panel(n_series=1, months=36, seed=seed)
        y = y[y[ID_COL] != WORLD]
        rows += [(uid, f"{ds:%Y-%m}", v, product) for ds, v in zip(y[TIME_COL], y[TARGET_COL],
                                                                    strict=True)]
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "y", "product"])
    if bad is not None:
        frame.loc[5, "product"] = bad
    frame.to_csv(path, index=False)
    return path


def long_cfg(path: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[f"data.path={path}", *overrides])


def test_a_long_file_may_carry_a_product_column(tmp_path: Path) -> None:
    path = long_file(tmp_path / "metals.csv")
    data = load_input(long_cfg(path).data)
    assert data.products == ("gallium", "germanium") and data.hierarchy == "none"
    panel = data.panel_at(data.last_month)
    assert set(panel[ID_COL]) == {"gallium/CN-A", "gallium/CN-B", "germanium/CN-A"}
    one = load_input(long_cfg(path, "data.products=[germanium]").data)
    assert one.products == ("germanium",) and set(one.panel_at(None)[ID_COL]) == {"CN-A"}
    with pytest.raises(InputError, match="'tin', which is not a product") as err:
        load_input(long_cfg(path, "data.products=[gallium,tin]").data)
    assert err.value.column == "data.products"
    with pytest.raises(InputError, match="row 7, column 'product'"):
        load_input(long_cfg(long_file(tmp_path / "bad.csv", bad="ga/ge")).data)
