"""Atomic file writes: a temporary file in the target's directory, fsync, then os.replace.

A reader never sees a half-written file: it sees the old file or the new one. For a set of
files (`write_files_atomic`) either every file of the set is replaced or none is: all are
staged first, and if a rename fails midway the files already replaced get their old
contents back. Temporary files are hidden (`.<name>.<random>.tmp`) and are removed on error.
Files get the mode a plain `open(path, "w")` would give them (0o666 less the user's umask),
not mkstemp's private 0o600, so a publication is readable like any other output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk (renames are durable only after this; no-op off POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_path(path: Path) -> Path:
    """Create an empty hidden temporary file beside `path` (mode per umask); return its path."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _fsync_file(path: Path) -> None:
    """Flush a written file's contents to disk."""
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it onto `path`."""
    target = Path(path)
    tmp = _temp_path(target)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _backup(path: Path) -> Path:
    """Keep the current contents of `path` under a hidden name (hard link, else a copy)."""
    backup = _temp_path(path)
    backup.unlink()
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def write_files_atomic(files: Mapping[str | Path, bytes]) -> list[Path]:
    """Write a set of files so that all appear or none; renames follow the mapping's order."""
    targets = [Path(p) for p in files]
    if len(set(targets)) != len(targets):
        raise ValueError("write_files_atomic got the same path twice")
    staged: list[Path] = []
    backups: dict[Path, Path] = {}
    replaced: list[Path] = []
    try:
        for target, data in zip(targets, files.values(), strict=True):
            tmp = _temp_path(target)
            staged.append(tmp)
            tmp.write_bytes(data)
            _fsync_file(tmp)
        for target in targets:
            if target.exists():
                backups[target] = _backup(target)
        for target, tmp in zip(targets, staged, strict=True):
            os.replace(tmp, target)
            replaced.append(target)
    except BaseException:
        for target in replaced:
            if target in backups:
                os.replace(backups.pop(target), target)
            else:
                target.unlink(missing_ok=True)
        for path in [*backups.values(), *staged]:
            path.unlink(missing_ok=True)
        raise
    for backup in backups.values():
        backup.unlink(missing_ok=True)
    for directory in {t.parent for t in targets}:
        _fsync_dir(directory)
    return targets
