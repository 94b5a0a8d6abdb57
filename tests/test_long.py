"""Long format (unique_id, ds, y[, status]), hierarchy none|world, destinations=all and counts."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from forecasting.cli import CONF_DIR
from forecasting.data.hierarchy import SeriesSummary
from forecasting.data.load import detect_format, load_panel
from forecasting.inputs import load_input
from forecasting.job import run_job
from forecasting.publish import read_published
from forecasting.schema import (
    ESTIMATED,
    ID_COL,
    OTHER,
    REPORTED,
    STATUS_COL,
    STATUSES,
    TARGET_COL,
    TIME_COL,
    WORLD,
    InputError,
)

# shipped with the benchmarks on main; the shared copy while this branch predates it
M3 = next((p for p in (Path(__file__).parents[1] / "benchmarks/data/m3_monthly.csv.gz",
                       Path("/work/shared/benchmarks/m3_monthly.csv.gz")) if p.is_file()),
          Path("benchmarks/data/m3_monthly.csv.gz"))


def write(path: Path, lines: list[str]) -> Path:
    """Write CSV lines to `path` (gzipped when it ends in .gz); return the path."""
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def long_lines(ids: dict[str, tuple[str, int]], *, status: bool = False) -> list[str]:
    """unique_id,ds,y rows: per id (first month, n months), y = 10 * month index + 1."""
    header = "unique_id,ds,y,category" + (",status" if status else "")
    rows = [header]
    for uid, (start, n) in ids.items():
        for k, month in enumerate(pd.period_range(start, periods=n, freq="M").strftime("%Y-%m")):
            rows.append(f"{uid},{month},{10 * k + 1},MICRO" + (",reported" if status else ""))
    return rows


def test_long_loads_any_ids_months_and_dates_ignoring_extra_columns(tmp_path: Path) -> None:
    lines = ["unique_id,ds,y,category", "N1402,1995-05,2640,MICRO", "N1402,1995-06-01,2160,MICRO",
             "North region,2020-01,0.5,x", "SKU-001 ,2020-02-01, 7 ,x"]
    path = write(tmp_path / "long.csv", lines)
    assert detect_format(path) == "long"
    panel = load_panel(path)
    assert list(panel.columns) == [ID_COL, TIME_COL, TARGET_COL, STATUS_COL]
    assert sorted(panel[ID_COL].unique()) == ["N1402", "North region", "SKU-001"]
    n1402 = panel.loc[panel[ID_COL] == "N1402"]
    assert list(n1402[TIME_COL]) == [pd.Timestamp("1995-05-01"), pd.Timestamp("1995-06-01")]
    assert list(n1402[TARGET_COL]) == [2640.0, 2160.0]
    assert set(panel[STATUS_COL]) == {REPORTED}
    assert panel.loc[panel[ID_COL] == "SKU-001", TARGET_COL].item() == 7.0


def test_long_optional_status_empty_y_and_gzip(tmp_path: Path) -> None:
    statuses = [s for s in STATUSES if s != REPORTED]
    lines = ["unique_id,ds,y,status", "a,2020-01,1,", "a,2020-02,,estimated",
             *(f"b,2020-{i + 1:02d},2,{s}" for i, s in enumerate(statuses))]
    panel = load_panel(write(tmp_path / "s.csv.gz", lines), format="long")
    a = panel.loc[panel[ID_COL] == "a"]
    assert list(a[STATUS_COL]) == [REPORTED, ESTIMATED]
    assert np.isnan(a[TARGET_COL].iloc[1])
    assert list(panel.loc[panel[ID_COL] == "b", STATUS_COL]) == statuses


def test_long_allows_negative_values_but_not_in_the_modelled_history(tmp_path: Path) -> None:
    path = write(tmp_path / "neg.csv", [*long_lines({"a": ("2020-01", 30)}), "a,2022-07,-5,x"])
    assert load_panel(path)[TARGET_COL].min() == -5.0
    data = load_input({"path": str(path), "destinations": "all"})
    assert data.truncated("2022-06").panel_at(None)[TARGET_COL].min() >= 0
    with pytest.raises(InputError, match=r"'a' has y=-5 in 2022-07"):
        data.panel_at(None)


BAD_LONG: list[tuple[str, list[str], int, str, str]] = [
    ("missing y", ["unique_id,ds", "a,2020-01"], 1, "y", "missing required column"),
    ("empty id", ["unique_id,ds,y", "a,2020-01,1", " ,2020-02,1"], 3, "unique_id",
     "unique_id is empty"),
    ("bad month", ["unique_id,ds,y", "a,2020-13,1"], 2, "ds", "'2020-13' is not a month"),
    ("day month", ["unique_id,ds,y", "a,2020/01,1"], 2, "ds", "is not a month"),
    ("mid-month date", ["unique_id,ds,y", "a,2020-01-01,1", "a,2020-02-15,1"], 3, "ds",
     "'2020-02-15' is not the first day of a month"),
    ("text y", ["unique_id,ds,y", "a,2020-01,1", "a,2020-02,lots"], 3, "y",
     "'lots' is not a number"),
    ("nan y", ["unique_id,ds,y", "a,2020-01,nan"], 2, "y", "'nan' is not a number"),
    ("inf y", ["unique_id,ds,y", "a,2020-01,1", "b,2020-01,inf"], 3, "y",
     "'inf' is not a finite number"),
    ("bad status", ["unique_id,ds,y,status", "a,2020-01,1,guessed"], 2, "status",
     "status 'guessed' is not one of"),
    ("duplicate", ["unique_id,ds,y", "a,2020-01,1", "b,2020-01,1", "a,2020-01-01,2"], 4, "ds",
     "duplicate of row 2 (a, 2020-01)"),
    ("header only", ["unique_id,ds,y"], 2, None, "no data rows"),
]


@pytest.mark.parametrize(("name", "lines", "row", "column", "fragment"), BAD_LONG,
                         ids=[case[0] for case in BAD_LONG])
def test_bad_long_input_names_file_row_and_column(tmp_path: Path, name: str, lines: list[str],
                                                  row: int, column: str | None,
                                                  fragment: str) -> None:
    path = write(tmp_path / "bad.csv", lines)
    with pytest.raises(InputError) as info:
        load_panel(path, format="long")
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    assert (info.value.row, info.value.column) == (row, column)
    assert fragment in text


def test_broken_gzip_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(b"unique_id,ds,y\na,2020-01,1\n")[:20])
    with pytest.raises(InputError, match="not a readable gzip file"):
        load_panel(path)


def test_hierarchy_none_keeps_series_as_given(tmp_path: Path) -> None:
    ids = {"N1": ("2018-01", 36), "N2": ("2019-07", 12), "SKU-9": ("2017-03", 30)}
    data = load_input({"path": str(write(tmp_path / "l.csv", long_lines(ids))),
                       "destinations": ["DE", "US"]})
    assert (data.format, data.hierarchy) == ("long", "none")
    panel = data.panel_at(None)
    assert sorted(panel[ID_COL].unique()) == ["N1", "N2", "SKU-9"]  # no WORLD/OTHER, no filter
    first = panel.groupby(ID_COL)[TIME_COL].min()
    assert first.to_dict() == {"N1": pd.Timestamp("2018-01-01"), "N2": pd.Timestamp("2019-07-01"),
                               "SKU-9": pd.Timestamp("2017-03-01")}
    reported = panel.loc[panel[STATUS_COL] == REPORTED]
    assert reported.groupby(ID_COL).size().to_dict() == {"N1": 36, "N2": 12, "SKU-9": 30}
    # series ending early run on to the common last month, estimated and flagged
    assert (panel.groupby(ID_COL)[TIME_COL].max() == pd.Timestamp("2020-12-01")).all()
    tail = panel.loc[(panel[ID_COL] == "SKU-9") & (panel[TIME_COL] > "2019-08-01")]
    assert len(tail) == 16 and set(tail[STATUS_COL]) == {ESTIMATED}
    assert data.summary == SeriesSummary(modelled=("N1", "N2", "SKU-9"))
    assert data.summary.tags() == {"n_series_modelled": "3", "n_series_folded": "0"}


def test_hierarchy_world_on_a_long_file_builds_world_and_other(tmp_path: Path) -> None:
    ids = {"a": ("2019-01", 24), "b": ("2019-01", 24), "c": ("2019-01", 24)}
    data = load_input({"path": str(write(tmp_path / "l.csv", long_lines(ids))),
                       "destinations": ["a"], "hierarchy": "world"})
    panel = data.panel_at(None).pivot(index=TIME_COL, columns=ID_COL, values=TARGET_COL)
    assert list(panel.columns) == [OTHER, WORLD, "a"]
    np.testing.assert_allclose(panel[OTHER], 2 * panel["a"])  # b + c, both equal to a
    np.testing.assert_allclose(panel[WORLD], panel["a"] + panel[OTHER])


def partner_file(tmp_path: Path) -> Path:
    """A plain partner file: DE and US 30 reported months, KR 30 months of which 20 reported,
    FR 6 months, WORLD absent."""
    rows = ["destination,month,tonnes,status"]
    months = pd.period_range("2022-01", periods=30, freq="M").strftime("%Y-%m")
    for k, m in enumerate(months):
        rows += [f"DE,{m},{100 + k},{REPORTED}", f"US,{m},{50 + k},{REPORTED}",
                 f"KR,{m},{10 + k},{REPORTED if k < 20 else ESTIMATED}"]
        if k >= 24:
            rows.append(f"FR,{m},5,{REPORTED}")
    return write(tmp_path / "partners.csv", rows)


def test_destinations_all_models_partners_with_enough_history(tmp_path: Path) -> None:
    path = partner_file(tmp_path)
    data = load_input({"path": str(path), "destinations": "all", "min_history": 24})
    assert data.hierarchy == "world" and data.chosen == ("DE", "US")
    panel = data.panel_at(None)
    assert sorted(panel[ID_COL].unique()) == ["DE", OTHER, "US", WORLD]
    assert data.summary == SeriesSummary(modelled=("DE", "US", OTHER, WORLD), folded=("FR", "KR"))
    assert data.summary.tags() == {"n_series_modelled": "4", "n_series_folded": "2"}
    line = data.summary.line()
    assert "4 modelled (DE, US, OTHER, WORLD)" in line and "2 folded into OTHER (FR, KR)" in line
    lower = load_input({"path": str(path), "destinations": "all", "min_history": 6})
    assert lower.chosen == ("DE", "FR", "KR", "US") and lower.summary.folded == ()


def test_destinations_all_is_chosen_from_what_is_known_at_as_of(tmp_path: Path) -> None:
    data = load_input({"path": str(partner_file(tmp_path)), "destinations": "all",
                       "min_history": 18})
    assert data.chosen == ("DE", "KR", "US") and data.summary.folded == ("FR",)
    june = data.truncated("2023-06")  # 18 months known, FR not yet trading
    assert june.chosen == ("DE", "KR", "US") and june.summary.folded == ()
    may = data.truncated("2023-05")  # 17 months known: nobody has enough history yet
    assert may.chosen == () and may.summary.folded == ("DE", "KR", "US")
    assert sorted(may.panel_at(None)[ID_COL].unique()) == [OTHER, WORLD]


def test_explicit_destinations_count_every_folded_partner(tmp_path: Path) -> None:
    data = load_input({"path": str(partner_file(tmp_path)), "destinations": ["US"]})
    assert data.summary.folded == ("DE", "FR", "KR")
    assert data.summary.modelled == ("US", OTHER, WORLD)


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("hierarchy", "tree", "data.hierarchy='tree' is not one of auto, world, none"),
    ("destinations", "some", "data.destinations='some' is not one of all"),
    ("destinations", [], "data.destinations is empty"),
    ("min_history", 0, "data.min_history=0 must be"),
])
def test_bad_data_settings(tmp_path: Path, key: str, value: object, fragment: str) -> None:
    cfg = {"path": str(partner_file(tmp_path)), "destinations": "all", key: value}
    with pytest.raises(InputError, match="config") as info:
        load_input(cfg)
    assert fragment in str(info.value) and info.value.column == f"data.{key}"


@pytest.mark.skipif(not M3.is_file(), reason="M3 benchmark file not present")
def test_m3_monthly_loads_fast_as_given() -> None:
    start = time.process_time()  # CPU time: the test machine is shared
    data = load_input({"path": str(M3), "format": "auto", "destinations": ["DE"]})
    loaded = time.process_time() - start
    panel = data.truncated("1999-06").panel_at(None)
    assert loaded < 3.0
    assert data.format == "long" and data.hierarchy == "none"
    assert len(data.raw) == 167_562 and panel[ID_COL].nunique() == 1428
    assert panel[TIME_COL].max() == pd.Timestamp("1999-06-01")
    assert (panel[STATUS_COL] == REPORTED).all()


def test_job_on_a_long_panel_publishes_every_id_without_world(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    months = pd.period_range("2016-01", periods=48, freq="M").strftime("%Y-%m")
    rows = ["unique_id,ds,y,category"]
    for uid in ("N1402", "Region north", "SKU-7"):
        level = rng.uniform(50, 500)
        rows += [f"{uid},{m},{level * (1 + 0.2 * np.sin(k / 2)):.1f},x"
                 for k, m in enumerate(months)]
    path = write(tmp_path / "panel.csv.gz", rows)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[
            f"data.path={path}", "data.format=long", "models=stats", "backtest.h=2",
            "backtest.n_windows=3", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
            f"publish.dir={tmp_path}/pub", "publish.h=3", "progress=false", "plots=false"])
    result = run_job(cfg, run_dir=tmp_path / "run")
    published = read_published(result.published.csv_paths["status_quo"])
    assert sorted(published["destination"].unique()) == ["N1402", "Region north", "SKU-7"]
    assert len(published) == 9 and published["month"].min() == "2020-01"
    assert result.series == SeriesSummary(modelled=("N1402", "Region north", "SKU-7"))
    tags = MlflowClient(tracking_uri=cfg.tracking.uri).get_run(result.run_id).data.tags
    assert (tags["n_series_modelled"], tags["n_series_folded"], tags["hierarchy"]) == (
        "3", "0", "none")
