"""``lowops approve`` and ``lowops reject``: the manual governance gate."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import locked, recorded, stage
from lowops.commands.promote import switched
from lowops.context import Context
from lowops.io import registry, version_labels
from lowops.lifecycle import promote as switching


def approve(ctx: Context, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """Switch a pending version in (smoke-tested again).

    Raises:
        NotPendingError: the version is not pending.
        SmokeTestFailed: it failed the smoke test; it is rejected and the live slot is untouched.
    """
    version = version_labels.resolve(ctx.repo, ctx.name, version)
    registry.check_version(ctx.repo, ctx.name, version)
    with locked(ctx, f"lowops approve {version}"), recorded(ctx, "approve", None) as ledger:
        with stage(ledger, "approve") as out:
            result = switching.approve(ctx, version, by=by, reason=reason)
            out.update(version=version, previous=result.previous)
        ledger.finish("done")
    return switched(ctx, result, ledger.run_id)


def reject(ctx: Context, version: str, *, by: str, reason: str) -> dict[str, Any]:
    """Close a pending version without switching.

    Raises:
        NotPendingError: the version is not pending.
    """
    version = version_labels.resolve(ctx.repo, ctx.name, version)
    registry.check_version(ctx.repo, ctx.name, version)
    with locked(ctx, f"lowops reject {version}"), recorded(ctx, "reject", None) as ledger:
        with stage(ledger, "reject") as out:
            result = switching.reject(ctx, version, by=by, reason=reason)
            out.update(result)
        ledger.finish("done")
    return {**result, "run_id": ledger.run_id}
