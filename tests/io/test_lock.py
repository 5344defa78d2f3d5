"""lowops.io.lock: one writer per repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PATIENCE

from lowops.errors import LockHeldError
from lowops.io.layout import LOCK_FILE as LOCK_NAME
from lowops.io.lock import repository_lock


class Boom(RuntimeError):
    pass


HOLDER = """
import sys, time
from pathlib import Path
from lowops.io.lock import repository_lock
repo, hold = Path(sys.argv[1]), float(sys.argv[2])
with repository_lock(repo, command="lowops backfill --from 2025-01 --to 2025-12"):
    print("locked", flush=True)
    if hold < 0:
        sys.stdin.read()   # hold until the test closes our stdin
    else:
        time.sleep(hold)
print("released", flush=True)
"""


def start_holder(repo: Path, hold: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo), str(hold)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    return proc


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    holder = start_holder(repo, -1)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeldError) as excinfo:
            with repository_lock(repo, wait=0, command="lowops run"):
                pytest.fail("the lock was granted while another process holds it")
        assert time.monotonic() - started < 2  # wait=0 steps aside at once
        error = excinfo.value
        assert error.exit_code == 75
        message = str(error)
        assert message.startswith(f"Repository {repo} is locked by pid {holder.pid} running "
                                  "`lowops backfill --from 2025-01 --to 2025-12` since ")
        assert message.endswith("; try again later (set LOWOPS_LOCK_WAIT=SECONDS to wait for it).")
        info = json.loads((repo / LOCK_NAME).read_text())
        assert info["pid"] == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        assert holder.wait(timeout=PATIENCE) == 0


def test_lock_wait_gives_up_after_the_wait(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    holder = start_holder(repo, -1)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeldError):
            with repository_lock(repo, wait=0.6):
                pass
        assert 0.5 <= time.monotonic() - started < 5
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=PATIENCE)


def test_lock_wait_succeeds_once_the_holder_releases(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    holder = start_holder(repo, 1.0)
    started = time.monotonic()
    with repository_lock(repo, wait=PATIENCE, command="lowops run --window 2025-03"):
        waited = time.monotonic() - started
        info = json.loads((repo / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
        assert info["command"] == "lowops run --window 2025-03"
    assert waited >= 0.5  # it waited for the holder's second (and got the lock well within its wait)
    assert holder.wait(timeout=PATIENCE) == 0


def test_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    holder = start_holder(repo, -1)
    holder.kill()
    holder.wait(timeout=PATIENCE)
    with repository_lock(repo, wait=0):
        assert json.loads((repo / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_lock_is_reentrant_only_across_time_not_nesting(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with repository_lock(repo):
        pass
    with repository_lock(repo):  # released on exit: takeable again
        with pytest.raises(LockHeldError):  # a second descriptor in the same process conflicts
            with repository_lock(repo):
                pass


def test_lock_released_when_the_block_raises(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(Boom):
        with repository_lock(repo):
            raise Boom()
    with repository_lock(repo, wait=0):
        pass


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from lowops.errors import WriteError
from lowops.io.lock import repository_lock
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # no byte may be written: a full disk
try:
    with repository_lock(Path(sys.argv[1])):
        print("locked")
except WriteError as exc:
    print(exc.exit_code, exc)
"""


def test_a_lock_that_cannot_be_written_is_73_and_left_free(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                          timeout=PATIENCE, check=True)
    assert done.stdout == (f"73 Cannot write the lock file {tmp_path / LOCK_NAME}: {os.strerror(27)} [errno 27]; "
                           "free some disk space and run again.\n"), done.stdout + done.stderr
    with repository_lock(tmp_path, command="the next tick"):  # nothing was left holding it
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "the next tick"
