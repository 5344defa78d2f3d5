"""``lowops report``: the static HTML dashboard of the repository (read-only; no lock, no database), and
``lowops report --sweetviz W``: the Sweetviz compare report of any window."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from lowops.config import Project
from lowops.context import Context
from lowops.errors import LowopsError, UsageError
from lowops.io import deploy, layout
from lowops.io.lock import queue_lock
from lowops.monitoring.outputs import recorded_verdict
from lowops.report import write_report
from lowops.stages.evaluate import scored_by
from lowops.stages.sweetviz_report import timed_report
from lowops.windows import Window

# A background report yields the CPU to the runs it follows.
_BACKGROUND_NICE = 10


def report(project: Project, output: Path | None = None) -> dict[str, Any]:
    """Write the dashboard (``repo/reports/index.html`` unless ``output``) and say what went into it."""
    return write_report(project, output)


def _version(ctx: Context, window: Window) -> str:
    """The version that scored the window, else the one its record names, else the live one."""
    record = recorded_verdict(ctx.repo, window.label)
    version = scored_by(ctx, window.label) or (str(record["version"]) if record and record.get("version") else None)
    version = version or deploy.live_version(ctx.repo, ctx.name)
    if version is None:
        raise UsageError(f"No version scored window {window.label} and none is live; run "
                         f"`lowops run --window {window.label}` first.")
    return version


def _folder(ctx: Context, window: Window, folder: str | None) -> Path:
    """``monitoring/<window>/`` or a re-check folder inside it; nothing else in the repository."""
    home = layout.monitoring_dir(ctx.repo, window.label)
    if folder is None:
        return home
    path = ctx.repo / folder
    if path != home and not (path.parent == home and path.name.startswith("recheck-r")):
        raise UsageError(f"--folder must be {home.relative_to(ctx.repo)} or a re-check folder in it. "
                         f"Got {folder!r} instead.")
    return path


def sweetviz(project: Project, window_label: str, *, version: str | None = None, folder: str | None = None,
             run_id: str | None = None, background: bool = False) -> dict[str, Any]:
    """Build the Sweetviz compare report of a window (its reference against its rows, with labels if any).

    Reports queue one at a time behind ``repo/.sweetviz.lock``, never the repository lock,
    so a run is never kept waiting by one.

    Args:
        project: the loaded project.
        window_label: the window.
        version: whose reference to compare with (default: the version that scored the window).
        folder: where to write, relative to the repository (default ``monitoring/<window>/``).
        run_id: the run that asked for it (its log lines carry that id).
        background: started by a run: lower priority, and a failure is logged, not raised.

    Returns:
        The window, version and report path, or with ``background`` the ``error`` it logged instead.

    Raises:
        LowopsError: (not in the background) the window has no snapshot, the version no reference rows,
            or Sweetviz failed.
    """
    if background:
        with contextlib.suppress(OSError):
            os.nice(_BACKGROUND_NICE)
    ctx = Context.open(project)
    try:
        window = ctx.window(window_label)
        ctx.with_run(run_id or "-", window.label)
        try:
            with queue_lock(layout.sweetviz_lock_file(ctx.repo)):
                card = ctx.card(version or _version(ctx, window))
                path, line = timed_report(ctx, window, card, _folder(ctx, window, folder))
        except Exception as exc:  # noqa: BLE001 - a third-party report must never cost a run its results
            message = (f"Sweetviz report of {window.label} failed ({type(exc).__name__}: {exc}); the window's "
                       "drift results are unaffected")
            if not background:
                if isinstance(exc, LowopsError):
                    raise
                raise LowopsError(f"{message}. Rerun with --debug for the traceback.") from exc
            ctx.log.event("sweetviz", f"{message}; `lowops report --sweetviz {window.label}` tries again",
                          level="WARN")
            return {"window": window.label, "version": version, "error": f"{type(exc).__name__}: {exc}"}
        ctx.log.event("sweetviz", line)
        return {"window": window.label, "version": str(card.version), "report": str(path)}
    finally:
        ctx.close()
