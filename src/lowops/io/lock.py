"""One writer per repository: an OS lock on ``<repo>/.lock``.

``flock`` is released by the kernel when the process dies, so a run killed by
SIGKILL or a power cut never leaves a stale lock behind. The descriptor is
close-on-exec, so a child process (a notification command, say) cannot keep
the repository locked after its parent is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lowops.errors import LockHeldError, WriteError
from lowops.io import layout
from lowops.io.files import make_dir, open_no_link


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _holder(path: Path) -> str:
    # The holder writes its details just after taking the lock: a loser that looks
    # in that instant finds the file empty, half-written, or still naming a previous
    # holder that is gone (killed before it could clear it), so look again.
    info: dict[str, Any] = {}
    for _ in range(20):
        try:
            info = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        if info and _alive(info.get("pid")):
            break
        info = {}
        time.sleep(0.05)
    if not info:
        return "another lowops process"
    return f"pid {info.get('pid')} running `{info.get('command')}` since {info.get('since')}"


@contextlib.contextmanager
def repository_lock(repo: Path, *, wait: float = 0.0, command: str | None = None) -> Iterator[None]:
    """Hold the repository's exclusive lock for the duration of the block.

    Args:
        repo: the repository root (created if missing).
        wait: seconds to wait for another holder before giving up (0: step aside at once).
        command: what this process is doing, recorded for whoever waits on us.

    Raises:
        LockHeldError: another process still holds the lock after ``wait`` seconds.
        IntegrityError: ``.lock`` is a symbolic link (it is never opened through one).
        WriteError: the lock file cannot be created or written (disk full, permissions).
    """
    repo = Path(repo)
    path = layout.lock_file(repo)
    make_dir(repo)
    try:
        fd = open_no_link(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise WriteError(f"Cannot create the lock file {path}: {exc.strerror}.") from exc
    held = False
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeldError(
                        f"Repository {repo} is locked by {_holder(layout.lock_file(repo))}; "
                        "try again later (set LOWOPS_LOCK_WAIT=SECONDS to wait for it)."
                    ) from None
                time.sleep(0.1)
        info = {
            "pid": os.getpid(),
            "command": command or " ".join(["lowops", *sys.argv[1:]]),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        held = True
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        except OSError as exc:
            raise WriteError(f"Cannot write the lock file {path}: {exc.strerror} [errno {exc.errno}]; free some "
                             "disk space and run again.") from exc
        yield
    finally:
        # Clear our details, then close the descriptor, which releases the lock. A holder
        # killed before this leaves its details behind: they name a pid that is gone.
        if held:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)


@contextlib.contextmanager
def queue_lock(path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock of ``path``: work behind it runs one at a time, in turn.

    Not the repository lock: a background job that queues here never keeps a run waiting.

    Raises:
        IntegrityError: ``path`` is a symbolic link.
        WriteError: the lock file cannot be created.
    """
    make_dir(path.parent)
    try:
        fd = open_no_link(path, os.O_RDWR | os.O_CREAT)
    except OSError as exc:
        raise WriteError(f"Cannot create the lock file {path}: {exc.strerror}.") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks in the kernel: no CPU while waiting
        yield
    finally:
        os.close(fd)


def holder_if_locked(repo: Path) -> str | None:
    """Who holds the repository lock right now, or None (never waits, never keeps it)."""
    path = layout.lock_file(Path(repo))
    if not path.exists() or path.is_symlink():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(path)
    finally:
        os.close(fd)  # releases the probe's lock, if it got it
    return None
