"""Atomic writers: files get the mode the user's umask gives, like any other output."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.atomic import write_bytes_atomic, write_files_atomic


@pytest.fixture
def umask() -> Iterator[callable]:
    """Set the process umask for a test and restore it afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path: Path, umask, mask: int, mode: int) -> None:
    umask(mask)
    single = write_bytes_atomic(tmp_path / "one.csv", b"x")
    many = write_files_atomic({tmp_path / "a.csv": b"a", tmp_path / "manifest.json": b"{}"})
    for path in [single, *many]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name
    replaced = write_bytes_atomic(tmp_path / "one.csv", b"y")  # a rewrite too
    assert stat.S_IMODE(replaced.stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "manifest.json", "one.csv"]
