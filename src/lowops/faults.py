"""Deterministic crash points for fault-injection tests.

``LOWOPS_FAULT=<checkpoint>[@N]`` makes the process SIGKILL itself the N-th
time (default: first) it reaches that checkpoint, exactly as a power cut or
the OOM killer would stop it: no cleanup, no ``finally``. Checkpoints sit at
stage boundaries (``before:score``, ``after:extract``…) and inside the write
path (``write:<file name>`` just before a file is moved into place,
``stage:<dir name>`` just before a version directory is renamed). Unset, a
checkpoint costs one dictionary lookup.

``LOWOPS_FAULT_SIGNAL=TERM`` sends SIGTERM instead (what cron's timeout or
systemd send), to test that an orderly stop cleans up after itself;
``LOWOPS_FAULT_SIGNAL=ERROR`` raises :class:`InjectedFault` there instead (a bug
in that step, e.g. in a third-party library).
"""

from __future__ import annotations

import fnmatch
import os
import signal

_hits: dict[str, int] = {}


class InjectedFault(RuntimeError):
    """Raised at a checkpoint by ``LOWOPS_FAULT_SIGNAL=ERROR``."""


def checkpoint(name: str) -> None:
    spec = os.environ.get("LOWOPS_FAULT")
    if not spec:
        return
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return
    _hits[pattern] = _hits.get(pattern, 0) + 1
    if _hits[pattern] >= int(nth or 1):
        kind = os.environ.get("LOWOPS_FAULT_SIGNAL", "KILL").upper()
        if kind == "ERROR":
            raise InjectedFault(f"fault injected at {name} (LOWOPS_FAULT)")
        os.kill(os.getpid(), signal.SIGTERM if kind == "TERM" else signal.SIGKILL)
