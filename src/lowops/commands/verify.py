"""``lowops verify [--repair]``: the repository's integrity, one finding per line."""

from __future__ import annotations

from pathlib import Path

from lowops.commands._run import project_locked
from lowops.config import Project
from lowops.context import use_model_key
from lowops.errors import IntegrityError
from lowops.io.verify import Finding
from lowops.io.verify import verify as check_repository


def verify(project: Project, *, repair: bool = False) -> tuple[list[Finding], list[Path]]:
    """Check every digest, manifest, pointer and ledger; with ``repair``, remove leftovers of interrupted writes.

    Returns:
        The findings, and what repair removed or brought up to date.

    Raises:
        LockHeldError: ``repair`` while another process holds the repository.
    """
    use_model_key(project, create=False)
    allowed = tuple(project.config.model.allowed_modules)
    if not repair:
        return check_repository(project.repo, allowed_modules=allowed)
    with project_locked(project, "lowops verify --repair"):
        return check_repository(project.repo, repair=True, allowed_modules=allowed)


def raise_if_findings(project: Project, findings: list[Finding]) -> None:
    """Exit 77 when anything was found.

    Raises:
        IntegrityError: there are findings.
    """
    if findings:
        raise IntegrityError(f"{len(findings)} integrity finding(s) in {project.repo}; see above.")
