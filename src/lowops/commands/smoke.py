"""``lowops smoke [VERSION]``: positive and negative checks of a version, and its budgets (read-only)."""

from __future__ import annotations

from typing import Any

from lowops.context import Context
from lowops.errors import IntegrityError, SmokeTestFailed, UsageError
from lowops.io import deploy, version_labels
from lowops.lifecycle.smoke import INTEGRITY_CHECKS, smoke_test
from lowops.windows import Window

def smoke(ctx: Context, version: str | None, window: Window | None) -> dict[str, Any]:
    """Smoke-test ``version`` (the live one by default); returns the report.

    Raises:
        UsageError: no version named and nothing is live.
    """
    if version is not None:
        version = version_labels.resolve(ctx.repo, ctx.name, version)
    else:
        version = deploy.live_version(ctx.repo, ctx.name)
        if version is None:
            raise UsageError(f"Nothing of model '{ctx.name}' is live yet; name a version: lowops smoke VERSION.")
    report = smoke_test(ctx, version, window)
    ctx.log.event("smoke", f"{ctx.name} {version}: {'passed' if report.ok else 'FAILED'}: {report.reason}",
                  level="INFO" if report.ok else "WARN")
    return report.as_dict()


def raise_if_failed(report: dict[str, Any]) -> None:
    """The failure a smoke report stands for, if any.

    Raises:
        IntegrityError: the digest or load check failed (exit 77).
        SmokeTestFailed: another check failed (exit 65).
    """
    if report["ok"]:
        return
    failed = {check["check"] for check in report["checks"] if not check["ok"]}
    if failed & INTEGRITY_CHECKS:
        raise IntegrityError(f"{report['version']} failed its smoke test: {report['reason']}")
    raise SmokeTestFailed(f"{report['version']} failed its smoke test: {report['reason']}")
