"""One job at a time per publication month; temporaries of killed jobs are removed."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from forecasting.publish import PublishExistsError
from forecasting.publish_lock import month_lock
from forecasting.schema import InputError


def test_a_second_job_on_the_same_month_stops_at_once(tmp_path: Path) -> None:
    first = month_lock(tmp_path, "2025-12")
    second = month_lock(tmp_path, "2025-12")
    with first, pytest.raises(PublishExistsError, match="right now"), second:
        pass
    with month_lock(tmp_path, "2025-12"), month_lock(tmp_path, "2026-01"):
        pass  # released after use; other months are independent


def test_a_lock_held_by_another_process_is_respected(tmp_path: Path) -> None:
    with open(tmp_path / ".2025-12.lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # another open file description: like another job
        with pytest.raises(PublishExistsError), month_lock(tmp_path, "2025-12"):
            pass


def test_stale_temporaries_are_removed_and_publications_kept(tmp_path: Path) -> None:
    month = tmp_path / "2025-12"
    month.mkdir()
    stale = month / ".forecast_status_quo.csv.x1y2.tmp"
    stale.write_text("half")
    kept = month / "forecast_status_quo.csv"
    kept.write_text("published")
    with month_lock(tmp_path, "2025-12") as directory:
        assert directory == month
        assert not stale.exists() and kept.read_text() == "published"


def test_publish_dir_pointing_at_a_file_is_a_setting_error(tmp_path: Path) -> None:
    target = tmp_path / "published"
    target.write_text("not a directory")
    with pytest.raises(InputError, match="publish.dir"), month_lock(target, "2025-12"):
        pass


def test_cli_with_publish_dir_on_a_file_exits_2_before_anything_is_written(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    (tmp_path / "pubfile").write_text("x")
    proc = run_cli(tmp_path, f"publish.dir={tmp_path}/pubfile")
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "publish.dir" in proc.stderr and "is a file" in proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "m.db").exists()
