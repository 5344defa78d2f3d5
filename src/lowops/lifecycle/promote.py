"""Blue/green switching, by the pipeline or by hand, and the governance gate around it.

A switch places the version in the idle slot, smoke-tests it there and only
then flips the live pointer in one atomic replace; the previous live version
stays in the other slot, so ``rollback`` is a single flip with no data access.
Every switch, approval and rejection is appended to the hash-chained
``audit.log`` and recorded in the version's status file.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowops.context import Context
from lowops.errors import (
    IntegrityError,
    NothingToRollBackError,
    NotPendingError,
    UsageError,
)
from lowops.io import audit, deploy, registry
from lowops.io import version_status as vstatus
from lowops.io.runs import read_runs
from lowops.lifecycle.notify import notify
from lowops.lifecycle.smoke import SmokeReport, smoke_test
from lowops.windows import Window


@dataclass
class SwitchResult:
    """What a gated switch did."""

    version: str
    switched: bool
    previous: str | None
    report: SmokeReport | None
    forced: bool = False


def who(by: str | None = None) -> str:
    """The person behind a command: ``--by``, else the login name."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def last_window(ctx: Context) -> str | None:
    """The latest window a run completed: what a switch by hand is dated by."""
    done = [r.window for r in read_runs(ctx.repo) if r.command == "run" and r.finished and r.window]
    return max(done, key=lambda w: ctx.window(w)) if done else None


def _live(ctx: Context) -> tuple[dict[str, Any], str]:
    name = ctx.name
    state = deploy.read_pointer(ctx.repo, name)
    if state is None:
        raise UsageError(f"Nothing of model '{name}' is live yet, so there is nothing to switch from; "
                         "run `lowops run` or `lowops train` first.")
    version = deploy.live_version(ctx.repo, name)
    assert version is not None
    return state, version


def gated_switch(ctx: Context, version: str, *, by: str, reason: str, window: Window | None, action: str,
                 force: bool = False) -> SwitchResult:
    """Place ``version`` in the idle slot, smoke-test it there, then make it live.

    A failed smoke test restores the idle slot, leaves the live slot untouched,
    marks the version ``rejected`` with the reason, writes the audit log and
    notifies. With ``force`` the switch goes ahead anyway and the audit line says so.
    """
    name = ctx.name
    state, previous = _live(ctx)
    if previous == version:
        raise UsageError(f"{name} {version} is already live (slot {state['live']}); nothing to switch.")
    idle = deploy.idle_slot(state)
    idle_before = deploy.slot_version(state, idle)
    deploy.place(ctx.repo, name, version, by=by, reason=f"{action}: smoke test before the switch")
    ctx.log.event("deploy", f"{name} {version} placed in idle slot {idle} for its smoke test")
    report = smoke_test(ctx, version, window)
    if not report.ok and (not force or report.tampered):  # --force never switches in untrusted files
        deploy.place(ctx.repo, name, idle_before, by=by, reason=f"{version} failed its smoke test")
        smoke_failed(ctx, version, report, by=by, action=action)
        return SwitchResult(version, False, previous, report)
    forced = force and not report.ok
    label = window.label if window else last_window(ctx)
    deploy.activate(ctx.repo, name, version, by=by, reason=reason, window=label, action=action,
                    forced=forced, smoke="passed" if report.ok else f"failed: {report.reason}")
    vstatus.record(ctx.repo, name, version, "promoted", by=by, reason=reason, forced=forced)
    vstatus.record(ctx.repo, name, previous, "retired", by=by, reason=f"replaced by {version}")
    audit.append(ctx.repo, "promote", model=name, version=version, by=by, reason=reason,
                 **{"from": previous, "via": action, "forced": forced, "window": label})
    ctx.log.event("deploy", f"{name} {version} is live in slot {idle} (was {previous}); {action} by {by}: {reason}"
                  + (" [FORCED past a failed smoke test]" if forced else ""))
    notify(ctx, "promoted", f"{name} {version} is live (was {previous})",
           f"{name} {version} went live in slot {idle}; {previous} stays in the other slot.\n"
           f"Why: {reason}\nBy: {by} ({action})\n"
           + (f"FORCED past a failed smoke test: {report.reason}\n" if forced else "Smoke test: passed\n")
           + f"Roll back with: lowops rollback\nPointer: {deploy.pointer_path(ctx.repo, name)}",
           version=version, previous=previous)
    return SwitchResult(version, True, previous, report, forced)


def smoke_failed(ctx: Context, version: str, report: SmokeReport, *, by: str, action: str) -> None:
    """Record a failed smoke test: status ``rejected``, an audit line, a log line, a notification."""
    name = ctx.name
    state = deploy.read_pointer(ctx.repo, name) or {"live": "-"}
    live = deploy.live_version(ctx.repo, name)
    vstatus.record(ctx.repo, name, version, "rejected", by="lowops smoke test", reason=report.reason)
    audit.append(ctx.repo, "smoke_failed", model=name, version=version, by=by, reason=report.reason, live=live)
    ctx.log.event("smoke", f"{name} {version} failed its smoke test, live {live} untouched: {report.reason}",
                  level="ERROR")
    notify(ctx, "smoke_failed", f"{name} {version} failed its smoke test; {live} stays live",
           f"Version {version} of {name} was not switched in ({action}).\n"
           f"Live version: {live} (slot {state['live']}), untouched.\n\nChecks:\n"
           + "\n".join(f"  {'ok  ' if c['ok'] else 'FAIL'} {c['check']}: {c['detail']}" for c in report.checks)
           + f"\n\nStatus: {vstatus.status_path(ctx.repo, name, version)}", version=version, live=str(live))


def promote(ctx: Context, version: str, *, by: str, reason: str | None, force: bool) -> SwitchResult:
    """``lowops promote VERSION``: a gated switch by hand.

    Raises:
        UsageError: ``--force`` without a reason, or the version is already live.
        SmokeTestFailed: the smoke test failed (and nothing was switched).
        IntegrityError: its digest or load check failed (nothing was switched, even with ``force``).
    """
    name = ctx.name
    registry.check_version(ctx.repo, name, version)
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT: the reason goes in the audit log.")
    result = gated_switch(ctx, version, by=by, reason=reason or "promoted by hand", window=None,
                          action="promote", force=force)
    if not result.switched:
        assert result.report is not None
        raise result.report.failure(f"{name} {version} failed its smoke test, so {result.previous} stays live: "
                                    f"{result.report.reason}")
    return result


def rollback(ctx: Context, *, by: str, reason: str | None) -> dict[str, Any]:
    """Switch back to the version that was live before the current one: one flip, no data access.

    Raises:
        NothingToRollBackError: the history holds no earlier version, or the registry no longer holds it.
        IntegrityError: the earlier version's files no longer match their digests.
    """
    name = ctx.name
    state, current = _live(ctx)
    target = next((h.get("from") for h in reversed(state["history"]) if h.get("to") == current), None)
    if not target:
        raise NothingToRollBackError(f"{name} {current} is the first version ever live; there is nothing "
                                     "to roll back to.")
    held = registry.list_versions(ctx.repo, name)
    if target not in held:
        removed = any(e.get("action") == "remove" and e.get("model") == name and e.get("version") == target
                      for e in audit.read_entries(ctx.repo))
        raise NothingToRollBackError(
            f"Cannot roll back to {name} {target}: the registry no longer holds it"
            + (" (`lowops gc` removed it; see audit.log)" if removed else "") + f"; {current} stays live. "
            f"Promote a version it holds instead (`lowops promote VERSION`): {', '.join(held)}.")
    problems = registry.verify_version(ctx.repo, name, target)
    if problems:
        raise IntegrityError(f"Cannot roll back to {name} {target}: {problems[0]}; {current} stays live.")
    why = reason or f"rollback from {current}"
    label = last_window(ctx)
    deploy.activate(ctx.repo, name, target, by=by, reason=why, window=label, action="rollback")
    vstatus.record(ctx.repo, name, target, "promoted", by=by, reason=f"rollback from {current}")
    vstatus.record(ctx.repo, name, current, "retired", by=by, reason=f"rolled back to {target}: {why}")
    audit.append(ctx.repo, "rollback", model=name, version=target, by=by, reason=why,
                 **{"from": current, "window": label})
    ctx.log.event("deploy", f"rollback: {name} {target} is live again (was {current}), by {by}: {why}")
    notify(ctx, "rolled_back", f"{name} rolled back to {target} (was {current})",
           f"{name} {target} is live again; {current} stays in the other slot.\nWhy: {why}\nBy: {by}\n"
           f"Pointer: {deploy.pointer_path(ctx.repo, name)}", version=target, previous=current)
    return {"model": name, "live": target, "previous": current, "by": by, "reason": why}


def mark_pending(ctx: Context, version: str, *, reason: str, window: str, decision: Path) -> None:
    """Leave a comparison winner waiting for ``lowops approve`` (``governance.promote: manual``).

    ``decision`` is the file that shows why it won: the comparison's decision, or the slots' scores.
    """
    name = ctx.name
    for older in vstatus.with_status(ctx.repo, name, "pending"):
        vstatus.record(ctx.repo, name, older["version"], "superseded", by="lowops",
                       reason=f"a newer winner {version} is pending")
    vstatus.record(ctx.repo, name, version, "pending", by="lowops", reason=reason, window=window)
    audit.append(ctx.repo, "pending", model=name, version=version, by="lowops", reason=reason, window=window)
    live = deploy.live_version(ctx.repo, name)
    ctx.log.event("governance", f"{name} {version} waits for approval (promote: manual): {reason}")
    notify(ctx, "pending_approval", f"{name} {version} waits for approval",
           f"{name} {version} won the comparison at window {window} and waits for approval "
           f"(governance.promote: manual); {live} stays live until then.\nWhy it won: {reason}\n"
           f"Decision: {decision}\n\n"
           f"Approve: lowops approve {version} --by NAME --reason TEXT\n"
           f"Reject:  lowops reject {version} --by NAME --reason TEXT", version=version, live=str(live))


def _pending(ctx: Context, version: str) -> dict[str, Any]:
    name = ctx.name
    registry.check_version(ctx.repo, name, version)
    entry = vstatus.current(ctx.repo, name, version)
    if entry is None or entry["status"] != "pending":
        waiting = [e["version"] for e in vstatus.with_status(ctx.repo, name, "pending")]
        raise NotPendingError(
            f"{name} {version} is not pending approval (status: {entry['status'] if entry else 'registered'}); "
            f"pending: {', '.join(waiting) if waiting else 'none'}.")
    return entry


def approve(ctx: Context, version: str, *, by: str, reason: str) -> SwitchResult:
    """``lowops approve``: switch a pending version in (smoke test again).

    Raises:
        NotPendingError: the version is not pending.
        SmokeTestFailed: it failed the smoke test; it is rejected and the live slot is untouched.
        IntegrityError: its digest or load check failed; likewise rejected, the live slot untouched.
    """
    name = ctx.name
    entry = _pending(ctx, version)
    vstatus.record(ctx.repo, name, version, "approved", by=by, reason=reason)
    audit.append(ctx.repo, "approve", model=name, version=version, by=by, reason=reason)
    window = ctx.window(entry["window"]) if entry.get("window") else None
    result = gated_switch(ctx, version, by=by, reason=f"approved: {reason}", window=window, action="approve")
    if not result.switched:
        assert result.report is not None
        raise result.report.failure(f"{name} {version} was approved but failed its smoke test, so "
                                    f"{result.previous} stays live: {result.report.reason}")
    return result


def reject(ctx: Context, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """``lowops reject``: close a pending version without switching.

    Raises:
        NotPendingError: the version is not pending.
    """
    name = ctx.name
    _pending(ctx, version)
    vstatus.record(ctx.repo, name, version, "rejected", by=by, reason=reason)
    audit.append(ctx.repo, "reject", model=name, version=version, by=by, reason=reason)
    live = deploy.live_version(ctx.repo, name)
    ctx.log.event("governance", f"{name} {version} rejected by {by}: {reason}; {live} stays live")
    notify(ctx, "rejected", f"{name} {version} rejected by {by}",
           f"{name} {version} was rejected by {by}: {reason}\n{live} stays live.", version=version)
    return {"model": name, "version": version, "status": "rejected", "by": by, "reason": reason, "live": live}
