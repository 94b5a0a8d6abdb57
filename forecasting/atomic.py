"""Atomic file writes: a temporary file in the target's directory, fsync, then os.replace.

A reader never sees a half-written file: it sees the old file or the new one. For a set of
files (`write_files_atomic`) either every file of the set is replaced or none is: all are
staged first, and if a rename fails midway the files already replaced get their old
contents back. Temporary files are hidden (`.<name>.<random>.tmp`) and are removed on error.
A whole directory (`write_dir_atomic`) is replaced in one step, so even a process killed
with SIGKILL leaves the old contents or the new ones, never a mix.
Files get the mode a plain `open(path, "w")` would give them (0o666 less the user's umask),
not mkstemp's private 0o600, so a publication is readable like any other output.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
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


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    """Hard-link `src` to `dst`, else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _backup(path: Path) -> Path:
    """Keep the current contents of `path` under a hidden name (hard link, else a copy)."""
    backup = _temp_path(path)
    backup.unlink()
    _link_or_copy(path, backup)
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


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange_dirs(a: str | Path, b: str | Path) -> bool:
    """Swap the paths `a` and `b` in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False, changing nothing, where the C library or the file system lacks it.
    """
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_dir_atomic(directory: str | Path, files: Mapping[str, bytes], *,
                     carry: Iterable[str] = ()) -> list[Path]:
    """Make `directory` hold `files` (name -> bytes) and its own entries named in `carry`.

    The new contents are staged in a hidden sibling `.<name>.<random>.tmp` directory, then
    renamed onto `directory` (absent) or exchanged with it and the old contents removed: a
    reader, or a process killed at any point, sees the whole old directory or the whole new
    one. A kill may leave the hidden sibling behind. Where the exchange is not supported (or
    `directory` is a symbolic link) the files are written by `write_files_atomic` instead,
    and the directory's other entries stay.
    """
    target = Path(directory)
    files = {str(name): data for name, data in files.items()}
    paths = [target / name for name in files]
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        for name in carry:
            src, dst = target / name, staging / name
            if src.is_dir():
                shutil.copytree(src, dst, copy_function=_link_or_copy)
            else:
                _link_or_copy(src, dst)
        for path, data in zip(paths, files.values(), strict=True):
            staged = staging / path.name
            staged.write_bytes(data)
            _fsync_file(staged)
        _fsync_dir(staging)
        if not target.exists() and not target.is_symlink():
            os.rename(staging, target)
        elif target.is_symlink() or not exchange_dirs(staging, target):
            shutil.rmtree(staging)
            return write_files_atomic(dict(zip(paths, files.values(), strict=True)))
        else:
            shutil.rmtree(staging)  # the old contents, now under the hidden name
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    return paths
