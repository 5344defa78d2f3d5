"""``lowops promote`` and ``lowops rollback``: the blue/green switch by hand, both ways."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import locked, recorded, stage
from lowops.context import Context
from lowops.io import deploy, registry, version_labels
from lowops.lifecycle import promote as switching
from lowops.lifecycle.promote import SwitchResult, who


def switched(ctx: Context, result: SwitchResult, run_id: str) -> dict[str, Any]:
    """What a switch by hand (promote, approve) reports."""
    state = deploy.read_pointer(ctx.repo, ctx.name) or {}
    return {"model": ctx.name, "live": result.version, "previous": result.previous,
            "slot": state.get("live"), "forced": result.forced, "run_id": run_id,
            "smoke": result.report.as_dict() if result.report else None}


def promote(ctx: Context, version: str, *, by: str | None, reason: str | None, force: bool) -> dict[str, Any]:
    """Make ``version`` live: into the idle slot, smoke-tested there, then one atomic switch.

    Raises:
        UnknownVersionError: no such version (nothing is written).
        UsageError: ``force`` without a reason, or the version is already live.
        SmokeTestFailed: the smoke test failed and nothing was switched.
    """
    version = version_labels.resolve(ctx.repo, ctx.name, version)  # @candidate, @live …
    registry.check_version(ctx.repo, ctx.name, version)  # a usage error writes nothing
    with locked(ctx, f"lowops promote {version}"), recorded(ctx, "promote", None) as ledger:
        with stage(ledger, "promote") as out:
            result = switching.promote(ctx, version, by=who(by), reason=reason, force=force)
            out.update(version=version, previous=result.previous, forced=result.forced)
        ledger.finish("done")
    return switched(ctx, result, ledger.run_id)


def rollback(ctx: Context, *, by: str | None, reason: str | None) -> dict[str, Any]:
    """Switch back to the version live before the current one: one flip, no data access.

    Raises:
        NothingToRollBackError: the history holds no earlier version, or the registry no longer holds it.
        IntegrityError: the earlier version's files no longer match their digests.
    """
    with locked(ctx, "lowops rollback"), recorded(ctx, "rollback", None) as ledger:
        with stage(ledger, "rollback") as out:
            result = switching.rollback(ctx, by=who(by), reason=reason)
            out.update(result)
        ledger.finish("done")
    return {**result, "run_id": ledger.run_id}
