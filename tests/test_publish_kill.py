"""SIGKILL while publishing: the month holds the old or the new complete set, never a mix.

Each kill forks the already-imported test process (no Python/pandas start-up per kill); the
child publishes under the month lock as the job does and is killed with SIGKILL either from
inside, just before or just after its k-th file-system step (every mkdir, fsync, link, rename,
replace, unlink, rmdir and directory swap of a publication, so every step boundary is hit:
48 kills), or from the parent after a seeded (12 kills)
random delay spread over the publication's duration (mid-write kills). After each kill the
month's directory must hold the old or the new file set, complete, every CSV matching its
manifest checksum and no CSV outside the manifest; a rerun must then publish the new set and
leave no temporary file anywhere under the publish directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from forecasting import atomic
from forecasting.publish import MANIFEST_NAME, csv_name, publish
from forecasting.publish_lock import month_lock
from tests.test_publish import coherent

AS_OF = "2025-12"
OLD = {"suspended": coherent(1.0), "reimposed": coherent(0.7)}
NEW = {"suspended": coherent(1.3), "eased": coherent(1.6)}  # reimposed goes: a stale CSV
STEPS = ("mkdir", "fsync", "link", "rename", "replace", "unlink", "rmdir")
RANDOM_KILLS = 12


def _publish(out: Path, forecasts: dict[str, pd.DataFrame]) -> None:
    with month_lock(out, AS_OF):
        publish(forecasts, as_of=AS_OF, out_dir=out, overwrite=True)


def _digests(forecasts: dict[str, pd.DataFrame], tmp: Path) -> dict[str, str]:
    """File name -> sha256 of each CSV the set publishes."""
    _publish(tmp, forecasts)
    return {csv_name(s): hashlib.sha256((tmp / AS_OF / csv_name(s)).read_bytes()).hexdigest()
            for s in forecasts}


def _state(month: Path, sets: dict[str, dict[str, str]]) -> str:
    """Which complete set the month holds ('none' when it holds no publication at all)."""
    csvs = {p.name for p in month.glob(csv_name("*"))} if month.is_dir() else set()
    manifest = month / MANIFEST_NAME
    if not manifest.exists():
        assert not csvs, f"CSVs without a manifest: {sorted(csvs)}"
        return "none"
    files = {f["name"]: f["sha256"] for f in json.loads(manifest.read_text())["files"]}
    assert csvs == set(files), f"CSVs {sorted(csvs)} but the manifest lists {sorted(files)}"
    for name, digest in files.items():
        assert hashlib.sha256((month / name).read_bytes()).hexdigest() == digest, name
    found = [label for label, digests in sets.items() if digests == files]
    assert found, f"a set that is neither old nor new: {files}"
    return found[0]


def _temporaries(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.tmp"))


def _arm(k: int, before: bool) -> list[int]:
    """Make the k-th file-system step of this (child) process kill it; returns the counter."""
    count = [0]

    def hooked(real: Callable) -> Callable:
        def step(*args: object, **kwargs: object) -> object:
            count[0] += 1
            if count[0] == k and before:
                os.kill(os.getpid(), signal.SIGKILL)
            try:
                return real(*args, **kwargs)
            finally:  # after the step, whether it succeeded or raised (mkdir of an existing dir)
                if count[0] == k:
                    os.kill(os.getpid(), signal.SIGKILL)
        return step

    for name in STEPS:
        setattr(os, name, hooked(getattr(os, name)))
    atomic.exchange_dirs = hooked(atomic.exchange_dirs)  # the directory swap is a step too
    return count


def _fork_publish(out: Path, *, k: int = 0, before: bool = True) -> int:
    """Fork a child that publishes NEW into `out` (armed to die at step k if k); return pid."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            if k:
                _arm(k, before)
            _publish(out, NEW)
            code = 0
        finally:
            os._exit(code)
    return pid


def _wait_killed(pid: int, *, must_die: bool) -> None:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
    else:
        assert not must_die, "the hook did not fire"
        assert os.WEXITSTATUS(status) == 0, "the publishing child failed"


def _count_steps(out: Path) -> int:
    """File-system steps of one publication of NEW into `out` (a dry run in a child)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            count = _arm(0, True)
            _publish(out, NEW)
            os.write(write, str(count[0]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    with os.fdopen(read) as fh:
        return int(fh.read())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_at_every_step_and_at_random_times_leaves_old_or_new_set(tmp_path: Path) -> None:
    sets = {"old": _digests(OLD, tmp_path / "ref_old"), "new": _digests(NEW, tmp_path / "ref_new")}
    template = tmp_path / "template"
    _publish(template, OLD)
    (template / AS_OF / "notes.txt").write_text("kept")  # a file of the user's: left alone
    empty = tmp_path / "empty"
    empty.mkdir()
    runs = 0
    seen: dict[str, set[str]] = {"template": set(), "empty": set()}

    def check_and_rerun(out: Path, start: Path) -> None:
        nonlocal runs
        runs += 1
        state = _state(out / AS_OF, sets)
        assert state in ({"old", "new"} if start is template else {"none", "new"})
        seen[start.name].add(state)
        _publish(out, NEW)  # the rerun: new set, nothing temporary left anywhere
        assert _state(out / AS_OF, sets) == "new"
        assert _temporaries(out) == []
        if start is template:
            assert (out / AS_OF / "notes.txt").read_text() == "kept"

    for start in (template, empty):
        steps = _count_steps(_copy(start, tmp_path / f"count_{start.name}"))
        assert steps >= 6
        for k in range(1, steps + 1):
            for before in (True, False):
                out = _copy(start, tmp_path / f"{start.name}_{k}_{int(before)}")
                _wait_killed(_fork_publish(out, k=k, before=before), must_die=True)
                check_and_rerun(out, start)

    durations = []
    for i in range(3):
        out = _copy(template, tmp_path / f"timed_{i}")
        began = time.perf_counter()
        _wait_killed(_fork_publish(out), must_die=False)
        durations.append(time.perf_counter() - began)
    rng = random.Random(11)
    for i in range(RANDOM_KILLS):
        out = _copy(template, tmp_path / f"random_{i}")
        pid = _fork_publish(out)
        time.sleep(rng.uniform(0.0, 1.2 * max(durations)))
        os.kill(pid, signal.SIGKILL)
        _wait_killed(pid, must_die=False)
        check_and_rerun(out, template)

    assert runs >= 50
    assert seen["template"] == {"old", "new"} and seen["empty"] == {"none", "new"}


def _copy(start: Path, out: Path) -> Path:
    shutil.copytree(start, out)
    return out


def test_a_month_directory_that_is_a_symlink_is_written_file_by_file(tmp_path: Path) -> None:
    """The directory swap would replace the link itself: the per-file writer is used instead."""
    real = tmp_path / "elsewhere"
    real.mkdir()
    out = tmp_path / "pub"
    out.mkdir()
    (out / AS_OF).symlink_to(real, target_is_directory=True)
    _publish(out, OLD)
    _publish(out, NEW)
    assert (out / AS_OF).is_symlink()
    assert _state(real, {"new": _digests(NEW, tmp_path / "ref")}) == "new"
    assert _temporaries(tmp_path) == []
