"""Tests for forecasting.publish and forecasting.atomic: schema, determinism, refusal, atomicity."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from forecasting.atomic import write_files_atomic
from forecasting.plots import plot_scenarios
from forecasting.publish import (
    PUBLIC_COLUMNS,
    PublishExistsError,
    publish,
    read_published,
    to_public,
)
from forecasting.schema import InputError

AS_OF = "2025-12"
MONTHS = pd.date_range("2026-01-01", periods=12, freq="MS")
# "NA" (Namibia) must survive the round trip as a string, not become NaN.
LEVELS = {"DE": 812.349, "NA": 3.05, "US": 451.26, "OTHER": 120.04}
EXTRA = {"data_hash": "abc123", "config": {"reconcile": {"method": "bottom_up"}, "h": 12},
         "mlflow_run_id": "r1", "git_commit": "deadbeef", "git_dirty": False,
         "package_version": "0.1.0"}


def coherent(scale: float = 1.0) -> pd.DataFrame:
    """A coherent internal forecast frame: 3 destinations + OTHER + WORLD (their sum), 12 months."""
    rows = [(uid, ds, "AutoETS", scale * level * (1 + 0.01 * k))
            for uid, level in LEVELS.items() for k, ds in enumerate(MONTHS)]
    df = pd.DataFrame(rows, columns=["unique_id", "ds", "model", "forecast"])
    world = df.groupby("ds", as_index=False)["forecast"].sum().assign(unique_id="WORLD",
                                                                      model="ensemble")
    df = pd.concat([world, df], ignore_index=True).sample(frac=1.0, random_state=0)
    for level, k in ((80, 0.1), (95, 0.2)):
        df[f"forecast-lo-{level}"] = df["forecast"] * (1 - k)
        df[f"forecast-hi-{level}"] = df["forecast"] * (1 + k)
    return df


def scenarios(scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Two scenarios: controls suspended, and controls reimposed (30% lower)."""
    return {"suspended": coherent(scale), "reimposed": coherent(0.7 * scale)}


def sha(path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(directory) -> dict[str, bytes]:
    """Every file under `directory` (hidden ones included) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*")
            if p.is_file()}


def test_csv_schema_rounding_sort_and_horizon(tmp_path):
    res = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path, manifest_extra=EXTRA)
    path = res.csv_paths["suspended"]
    assert path == tmp_path / AS_OF / "forecast_suspended.csv"
    raw = path.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("utf-8").split("\n")
    assert lines[0] == ",".join(PUBLIC_COLUMNS)
    assert lines[1] == (
        "2025-12,suspended,DE,2026-01,1,forecast,AutoETS,812.3,731.1,893.6,649.9,974.8")
    df = read_published(path)
    assert list(df.columns) == list(PUBLIC_COLUMNS) and len(df) == 5 * 12
    assert list(df.drop_duplicates("destination")["destination"]) == [
        "DE", "NA", "OTHER", "US", "WORLD"]
    assert df.groupby("destination")["month"].apply(lambda m: m.is_monotonic_increasing).all()
    assert df.groupby("destination")["horizon"].apply(list).map(lambda h: h == list(range(1, 13))
                                                                ).all()
    assert (df["month"].str[:4] == "2026").all() and (df["as_of"] == AS_OF).all()
    assert np.allclose(df["tonnes"], df["tonnes"].round(1))
    na = df[df.destination == "NA"]["tonnes"].iloc[0]
    assert na == 3.0 or na == 3.1  # 3.05 rounded to one decimal
    world = df[df.destination == "WORLD"].set_index("month")["tonnes"]
    bottom = df[df.destination != "WORLD"].groupby("month")["tonnes"].sum()
    assert ((world - bottom).abs() <= 0.2 + 1e-9).all()  # coherent up to rounding


def test_manifest_checksums_extra_and_sorted_keys(tmp_path):
    res = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path, manifest_extra=EXTRA)
    text = res.manifest_path.read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert text == json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    assert manifest == res.manifest
    assert manifest["as_of"] == AS_OF and manifest["scenarios"] == ["reimposed", "suspended"]
    assert manifest["created"].endswith("+00:00")
    for key, value in EXTRA.items():
        assert manifest[key] == value
    assert [f["name"] for f in manifest["files"]] == ["forecast_reimposed.csv",
                                                      "forecast_suspended.csv"]
    for entry in manifest["files"]:
        path = res.directory / entry["name"]
        assert entry["sha256"] == sha(path)
        assert entry["rows"] == len(read_published(path)) == 60


def test_same_inputs_give_byte_identical_csvs(tmp_path):
    a = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path / "a")
    b = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path / "b")
    for name in a.csv_paths:
        assert a.csv_paths[name].read_bytes() == b.csv_paths[name].read_bytes()
    assert a.manifest["files"] == b.manifest["files"]


def test_second_publish_is_refused_and_files_untouched(tmp_path):
    res = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path, manifest_extra=EXTRA)
    before = {p.name: sha(p) for p in res.directory.iterdir()}
    with pytest.raises(PublishExistsError, match="publish.overwrite=true") as err:
        publish(scenarios(scale=2.0), as_of=AS_OF, out_dir=tmp_path)
    assert isinstance(err.value, FileExistsError)
    assert str(res.directory) in str(err.value)
    assert {p.name: sha(p) for p in res.directory.iterdir()} == before


def test_a_lone_csv_also_blocks_publishing(tmp_path):
    (tmp_path / AS_OF).mkdir()
    (tmp_path / AS_OF / "forecast_old.csv").write_text("x\n")
    with pytest.raises(PublishExistsError, match="forecast_old.csv"):
        publish(scenarios(), as_of=AS_OF, out_dir=tmp_path)
    assert tree(tmp_path / AS_OF) == {"forecast_old.csv": b"x\n"}


def test_overwrite_replaces_and_drops_stale_scenarios(tmp_path):
    publish(scenarios(), as_of=AS_OF, out_dir=tmp_path)
    new = {"suspended": coherent(2.0)}
    res = publish(new, as_of=AS_OF, out_dir=tmp_path, overwrite=True)
    assert sorted(p.name for p in res.directory.iterdir()) == ["forecast_suspended.csv",
                                                                "manifest.json"]
    assert res.manifest["scenarios"] == ["suspended"]
    expected = to_public(new["suspended"], as_of=AS_OF, scenario="suspended")
    pd.testing.assert_frame_equal(read_published(res.csv_paths["suspended"]), expected)
    assert res.manifest["files"][0]["sha256"] == sha(res.csv_paths["suspended"])


@pytest.mark.parametrize(("corrupt", "message"), [
    (lambda df: df.assign(**{"forecast-lo-80": df["forecast"] + 1}),
     "column 'forecast-lo-80': forecast-lo-80 .* > forecast"),
    (lambda df: df.assign(forecast=df["forecast"].where(df.index != df.index[3])),
     "column 'forecast': value is NaN"),
    (lambda df: df.assign(**{"forecast-lo-95": -1.0, "forecast-lo-80": -0.5}),
     "negative lower bound"),
    (lambda df: df.assign(forecast=df["forecast"] * np.where(df.unique_id == "WORLD", 1.01, 1)),
     "not coherent in 2026-01"),
    (lambda df: df.drop(columns="model"), "lacks column"),
    (lambda df: df.assign(ds=df["ds"] - pd.DateOffset(years=1)), "is not after as_of 2025-12"),
])
def test_invalid_frame_raises_and_writes_nothing(tmp_path, corrupt, message):
    frames = scenarios()
    frames["reimposed"] = corrupt(frames["reimposed"].reset_index(drop=True))
    with pytest.raises(InputError, match=f"scenario 'reimposed'.*{message}"):
        publish(frames, as_of=AS_OF, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_as_of_and_scenario_names_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="YYYY-MM"):
        publish(scenarios(), as_of="../2025-12", out_dir=tmp_path)
    with pytest.raises(ValueError, match="scenario name"):
        publish({"a/b": coherent()}, as_of=AS_OF, out_dir=tmp_path)
    with pytest.raises(ValueError, match="reserved"):
        publish(scenarios(), as_of=AS_OF, out_dir=tmp_path, manifest_extra={"files": []})
    assert list(tmp_path.iterdir()) == []


def test_read_published_rejects_a_bad_file(tmp_path):
    res = publish(scenarios(), as_of=AS_OF, out_dir=tmp_path)
    df = read_published(res.csv_paths["suspended"])
    swapped = tmp_path / "swapped.csv"
    df[["scenario", "as_of", *PUBLIC_COLUMNS[2:]]].to_csv(swapped, index=False)
    with pytest.raises(InputError, match="expected"):
        read_published(swapped)
    broken = tmp_path / "broken.csv"
    df.assign(hi_95=df["hi_95"].where(df.index != 4, 1.0)).to_csv(broken, index=False)
    with pytest.raises(InputError, match="broken.csv, row 4, column 'hi_80'"):
        read_published(broken)


def test_atomic_set_is_all_or_nothing(tmp_path):
    keep = tmp_path / "a.txt"
    keep.write_bytes(b"old")
    blocker = tmp_path / "b.txt"
    blocker.mkdir()  # a directory where a file should go: this write fails
    with pytest.raises(OSError):
        write_files_atomic({keep: b"new", blocker: b"data", tmp_path / "c.txt": b"c"})
    assert tree(tmp_path) == {"a.txt": b"old"}  # no new file, no temporary left
    written = write_files_atomic({keep: b"new", tmp_path / "c.txt": b"c"})
    assert written == [keep, tmp_path / "c.txt"]
    assert tree(tmp_path) == {"a.txt": b"new", "c.txt": b"c"}


def test_plot_scenarios_writes_a_png(tmp_path):
    hist_months = pd.date_range("2022-01-01", "2025-12-01", freq="MS")
    history = pd.concat([
        pd.DataFrame({"unique_id": uid, "ds": hist_months,
                      "y": level * (1 + 0.2 * np.sin(np.arange(len(hist_months)))),
                      "status": np.where(hist_months.year < 2025, "estimated", "reported")})
        for uid, level in {**LEVELS, "WORLD": sum(LEVELS.values())}.items()
    ], ignore_index=True)
    path = plot_scenarios(scenarios(), history=history, path=tmp_path / "plots" / "s.png", top=2)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.png"]
