"""What every writing command shares: the repository lock, the run ledger and its stages.

A command that changes the repository holds the lock once, for all its work,
and records a run: each stage's start, end and outputs, and how the run ended.
A failure is recorded, notified and re-raised; an interruption (SIGTERM,
Ctrl-C) leaves the run resumable under its own id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lowops import faults
from lowops.config import Project
from lowops.context import Context
from lowops.errors import LowopsError, UsageError
from lowops.io import deploy, export
from lowops.io.ledger import Ledger
from lowops.io.logs import read_metrics
from lowops.io.lock import repository_lock
from lowops.io.runs import RunRecord, read_runs
from lowops.lifecycle.notify import notify_failure


@contextlib.contextmanager
def project_locked(project: Project, command: str) -> Iterator[None]:
    """Hold the project's repository lock (waiting as configured) for a writing command."""
    with repository_lock(project.repo, wait=project.lock_wait(), command=command):
        yield


def locked(ctx: Context, command: str) -> contextlib.AbstractContextManager[None]:
    """Hold the repository lock (waiting as configured) for a writing command."""
    return project_locked(ctx.project, command)


@contextlib.contextmanager
def recorded(ctx: Context, command: str, window: str | None,
             resume: RunRecord | None = None) -> Iterator[Ledger]:
    """A run ledger for one command on one window; failures are recorded, then re-raised.

    ``resume`` is the ledger of an interrupted run: its id is reused, so every
    stage finds what the interrupted attempt already completed under that id.
    """
    ledger = Ledger.resume(ctx.repo, resume) if resume is not None else Ledger.start(ctx.repo, command, window)
    ctx.with_run(ledger.run_id, window)
    ledger.watch = ctx.progress.stage
    if resume is not None:
        ctx.log.event(command, f"resuming interrupted run {ledger.run_id}")
    try:
        yield ledger
        _export(ctx, ledger)
    except LowopsError as exc:
        ctx.log.event(command, f"failed: {exc}", level="ERROR")
        ledger.finish("failed", f"{type(exc).__name__}: {exc}")
        _export(ctx, ledger)
        if not isinstance(exc, UsageError):  # a mistyped command line is no pipeline failure to mail about
            notify_failure(ctx, command, window, exc)
        raise
    except Exception as exc:
        ledger.finish("failed", f"{type(exc).__name__}: {exc}")
        _export(ctx, ledger)
        notify_failure(ctx, command, window, exc)
        raise
    except BaseException as exc:
        # SIGTERM (the CLI turns it into SystemExit) or Ctrl-C: like a kill, the run
        # stays resumable under its own id; ``finally`` blocks have removed temp files.
        ledger.finish("interrupted", f"{type(exc).__name__}: {exc}")
        raise


def _export(ctx: Context, ledger: Ledger) -> None:
    """The run's metrics to ``export:``'s textfile and table; a failure is logged, never raised."""
    cfg = ctx.config.export
    if cfg.prometheus_textfile is None and cfg.sql_table is None:
        return
    logged = read_metrics(ctx.repo)  # read once for both
    if cfg.prometheus_textfile is not None:
        path = ctx.project.path(cfg.prometheus_textfile)
        if ctx.project.several:  # one file per model: each run rewrites its own model's, and the collector reads all
            path = path.with_name(f"{path.stem}-{ctx.name}{path.suffix}")
        try:
            export.write_prometheus(path, logged, ctx.name, deploy.live_version(ctx.repo, ctx.name),
                                    read_runs(ctx.repo), ledger.record)
        except (OSError, LowopsError) as exc:
            ctx.log.event("export", f"Prometheus textfile {path} not written: {exc}", level="WARN")
    if cfg.sql_table is not None:
        rows = [r for r in logged if r["run"] == ledger.run_id]
        try:
            written = export.append_sql(ctx.db.url, cfg.sql_table, rows)
        except export.ExportError as exc:
            ctx.log.event("export", f"metrics not appended to table {cfg.sql_table}: {exc}", level="WARN")
        else:
            if written:
                ctx.log.event("export", f"{written} metric line(s) appended to table {cfg.sql_table}")


@contextlib.contextmanager
def stage(ledger: Ledger, name: str) -> Iterator[dict[str, Any]]:
    """One stage of a run: the outputs the block puts in the dict go in the ledger when it ends."""
    outputs: dict[str, Any] = {}
    faults.checkpoint(f"before:{name}")
    ledger.stage_start(name)
    yield outputs
    ledger.stage_end(name, **outputs)
    faults.checkpoint(f"after:{name}")


def check_sql(ctx: Context) -> None:
    """Read and check every SQL file before any work: a bad query is a config error (78), not a failed run."""
    ctx.mart_sql()
    ctx.label_sql()
