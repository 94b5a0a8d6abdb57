"""One job at a time per publication month: a lock taken before computing; stale temporaries go."""

from __future__ import annotations

import contextlib
import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path

from forecasting.publish import PublishExistsError
from forecasting.schema import InputError

STALE_PATTERN = ".*.tmp"  # the atomic writers' hidden temporaries (forecasting/atomic.py)


def check_publish_dir(out_dir: str | Path) -> Path:
    """`publish.dir` as a path, refused when it names an existing file."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("publish.dir", f"{out} is a file, not a directory", column="publish.dir")
    return out


@contextlib.contextmanager
def month_lock(out_dir: str | Path, as_of: str) -> Iterator[Path]:
    """Hold `<out_dir>/.<as_of>.lock` for the block; yield the month's directory.

    A second job publishing the same month while the first runs stops at once (before any
    model is fitted) with PublishExistsError. Under the lock, temporaries left by a killed job
    (in the month's directory, or its hidden swap directory beside it) are removed: no live
    writer can own them.
    """
    out = check_publish_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out / f".{as_of}.lock"
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise PublishExistsError(
                f"{out / as_of}: another job is publishing as_of {as_of} right now (lock "
                f"{lock_path}); wait for it to finish or use another publish.dir") from err
        directory = out / as_of
        for stale in [*out.glob(f".{as_of}.*.tmp"),  # the month's swap directory
                      *(directory.glob(STALE_PATTERN) if directory.is_dir() else [])]:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        try:
            yield directory
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
