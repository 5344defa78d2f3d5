"""Sweetviz reports in background processes, started once a window's results are committed.

A run that wants a window's report (:attr:`DriftVerdict.sweetviz_folder`)
starts ``lowops report --sweetviz W`` as a detached child right after that
window's ledger is finished: its own session (a terminal's Ctrl-C or cron's
kill of the run's process group does not reach it), no inherited descriptors
(cron's pipe closes when the run exits, so cron never waits for it; the
repository lock's descriptor is close-on-exec anyway), a lower CPU priority,
and reports queued one at a time behind their own lock, never the repository's.
Its failure or slowness therefore never fails or delays the run; it logs its
outcome in ``logs/lowops.log`` under the run's id.

``LOWOPS_SWEETVIZ_WAIT=1`` makes a command wait for the reports it started
before it exits (after releasing the repository lock): for tests and scripts
that read the reports next.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from lowops.context import Context
from lowops.io.logs import EventLog
from lowops.monitoring.verdict import DriftVerdict

WAIT_VARIABLE = "LOWOPS_SWEETVIZ_WAIT"


@dataclass
class _Started:
    process: subprocess.Popen[bytes]
    log: EventLog
    window: str


_started: list[_Started] = []
# A background report is low-priority work: one BLAS/OpenMP thread, whose waiting threads would
# otherwise spin on the cores the next window's run (and cron's other jobs) need.
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def start_report(ctx: Context, verdict: DriftVerdict) -> None:
    """Start the window's Sweetviz report in the background, if its verdict wants one (logged either way)."""
    folder, version = verdict.sweetviz_folder, verdict.details.get("version")
    if folder is None or not version:
        return
    argv = [sys.executable, "-m", "lowops.cli", "-C", str(ctx.project.root), "-c", str(ctx.project.config_path),
            "--model", ctx.name, "report", "--sweetviz", verdict.window, "--version", str(version), "--folder", folder,
            "--run-id", ctx.run_id, "--background"]
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                   env={**os.environ, **_ONE_THREAD})
    except OSError as exc:
        ctx.log.event("sweetviz", f"cannot start the Sweetviz report of {verdict.window} ({exc.strerror}); the "
                      f"window's results are unaffected; `lowops report --sweetviz {verdict.window}` builds it",
                      level="WARN")
        return
    _started.append(_Started(process, ctx.log, verdict.window))
    ctx.log.event("sweetviz", f"Sweetviz report of {verdict.window} started in the background (pid "
                  f"{process.pid}) for {folder}")


def wait_for_reports() -> list[int]:
    """Wait for every report this process started; a report that died by a signal is logged.

    Returns:
        The reports' exit codes, in the order they were started (negative: killed by that signal).
    """
    codes = []
    while _started:
        item = _started.pop(0)
        code = item.process.wait()
        if code < 0:
            item.log.event("sweetviz", f"the Sweetviz report of {item.window} (pid {item.process.pid}) was "
                           f"killed by {signal.Signals(-code).name}; the window's results are unaffected",
                           level="WARN")
        codes.append(code)
    return codes


def finish(*, wait: bool = False) -> None:
    """At the end of a command: wait for its reports if asked (``wait`` or ``LOWOPS_SWEETVIZ_WAIT``)."""
    if wait or os.environ.get(WAIT_VARIABLE, "") not in ("", "0"):
        wait_for_reports()
