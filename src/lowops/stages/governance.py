"""The commands of continuous training and governance: each takes the lock and keeps a run ledger.

``retrain``, ``promote``, ``rollback``, ``approve`` and ``reject`` change the
repository, so each holds the repository lock and records a run; ``smoke``
only reads.
"""

from __future__ import annotations

from typing import Any

from lowops.errors import UsageError
from lowops.io import deploy, registry
from lowops.stages import ct, promote as switching
from lowops.stages.context import Context
from lowops.stages.pipeline import locked, recorded, stage
from lowops.stages.smoke import SmokeTestFailed, smoke_test
from lowops.windows import Window, check_not_future


def retrain(ctx: Context, window: Window | None, *, by: str) -> dict[str, Any]:
    """``lowops retrain``: train on the windows ending at W, compare, and act like the pipeline would.

    Without a window, the latest window a run completed is the hold-out.
    """
    if window is None:
        label = switching.last_window(ctx)
        window = ctx.window(label)
    check_not_future(window)
    with locked(ctx, f"lowops retrain --window {window.label}"), recorded(ctx, "retrain", window.label) as ledger:
        with stage(ledger, "retrain") as out:
            result = ct.retrain_by_hand(ctx, window, by=by)
            out.update({k: v for k, v in result.items() if k != "table"})
        ledger.finish("done")
        return {**result, "window": window.label, "run_id": ledger.run_id}


def promote(ctx: Context, version: str, *, by: str, reason: str | None, force: bool) -> dict[str, Any]:
    """``lowops promote VERSION``."""
    registry.check_version(ctx.repo, ctx.config.model.name, version)  # a usage error writes nothing
    with locked(ctx, f"lowops promote {version}"), recorded(ctx, "promote", None) as ledger:
        with stage(ledger, "promote") as out:
            result = switching.promote(ctx, version, by=by, reason=reason, force=force)
            out.update(version=version, previous=result.previous, forced=result.forced)
        ledger.finish("done")
    return _switched(ctx, result, ledger.run_id)


def rollback(ctx: Context, *, by: str, reason: str | None) -> dict[str, Any]:
    """``lowops rollback``."""
    with locked(ctx, "lowops rollback"), recorded(ctx, "rollback", None) as ledger:
        with stage(ledger, "rollback") as out:
            result = switching.rollback(ctx, by=by, reason=reason)
            out.update(result)
        ledger.finish("done")
    return {**result, "run_id": ledger.run_id}


def approve(ctx: Context, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """``lowops approve VERSION``."""
    registry.check_version(ctx.repo, ctx.config.model.name, version)
    with locked(ctx, f"lowops approve {version}"), recorded(ctx, "approve", None) as ledger:
        with stage(ledger, "approve") as out:
            result = switching.approve(ctx, version, by=by, reason=reason)
            out.update(version=version, previous=result.previous)
        ledger.finish("done")
    return _switched(ctx, result, ledger.run_id)


def reject(ctx: Context, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """``lowops reject VERSION``."""
    registry.check_version(ctx.repo, ctx.config.model.name, version)
    with locked(ctx, f"lowops reject {version}"), recorded(ctx, "reject", None) as ledger:
        with stage(ledger, "reject") as out:
            result = switching.reject(ctx, version, by=by, reason=reason)
            out.update(result)
        ledger.finish("done")
    return {**result, "run_id": ledger.run_id}


def smoke(ctx: Context, version: str | None, window: Window | None) -> dict[str, Any]:
    """``lowops smoke [VERSION]``: read-only; the live version by default.

    Raises:
        SmokeTestFailed: a check failed (exit 65); the report is attached as ``report``.
    """
    name = ctx.config.model.name
    if version is None:
        version = deploy.live_version(ctx.repo, name)
        if version is None:
            raise UsageError(
                f"Nothing of model '{name}' is live yet; name a version: lowops smoke VERSION.")
    report = smoke_test(ctx, version, window)
    ctx.log.event("smoke", f"{name} {version}: {'passed' if report.ok else 'FAILED'}: {report.reason}",
                  level="INFO" if report.ok else "WARN")
    return report.as_dict()


def _switched(ctx: Context, result: switching.SwitchResult, run_id: str) -> dict[str, Any]:
    state = deploy.read_pointer(ctx.repo, ctx.config.model.name) or {}
    return {"model": ctx.config.model.name, "live": result.version, "previous": result.previous,
            "slot": state.get("live"), "forced": result.forced, "run_id": run_id,
            "smoke": result.report.as_dict() if result.report else None}


__all__ = ["SmokeTestFailed", "approve", "promote", "reject", "retrain", "rollback", "smoke"]
