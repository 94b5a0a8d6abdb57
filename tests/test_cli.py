"""The `forecast` console script: bad input gives one line, exit 2 and no files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "forecast"


def run_cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """Run `forecast` in tmp_path with a tracking store and run dir inside it."""
    return subprocess.run(
        [str(BIN), f"hydra.run.dir={tmp_path}/run", f"tracking.uri=sqlite:///{tmp_path}/m.db",
         f"publish.dir={tmp_path}/pub", "progress=false", *overrides],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("destination,month,tonnes\nDE,2025-01,100\nDE,2025-13,90\n")
    proc = run_cli(tmp_path, f"data.path={bad}")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert "bad.csv" in lines[0] and "row 3" in lines[0] and "month" in lines[0]
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "pub").exists()
    assert not (tmp_path / "m.db").exists()


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    proc = run_cli(tmp_path, f"data.path={tmp_path}/nope.csv")
    assert proc.returncode == 2 and "nope.csv" in proc.stderr
    proc = run_cli(tmp_path, f"data.path={tmp_path}/nope.csv", "data.format=excel")
    assert proc.returncode == 2


def test_help_describes_every_config_group(tmp_path: Path) -> None:
    from forecasting.cli import CONF_DIR

    proc = subprocess.run([str(BIN), "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    described = proc.stdout.split("Available options per group:")[0]
    groups = {p.name for p in Path(CONF_DIR).iterdir() if p.is_dir()} - {"hydra", "paths"}
    for group in groups:
        assert any(line.strip().startswith(group + " ") for line in described.splitlines()), group
    assert "Examples:" in proc.stdout and "exit 2" in proc.stdout
