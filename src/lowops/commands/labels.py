"""``lowops models alias | tag | describe``: what people call versions, under the lock, in the audit log."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import project_locked
from lowops.config import Project
from lowops.io import audit, version_labels
from lowops.lifecycle.promote import who


def _version(project: Project, ref: str) -> str:
    """A version named directly or by alias (the labels module checks it exists)."""
    return version_labels.resolve(project.repo, project.config.model.name, ref)


def alias(project: Project, name: str, ref: str | None, *, by: str | None = None) -> dict[str, Any]:
    """Point alias ``name`` at version ``ref`` (a version or another alias); None removes it.

    Raises:
        UsageError: a name lowops does not accept, ``live``, or removing an alias that does not exist.
        UnknownVersionError: no such version.
    """
    model = project.config.model.name
    version_labels.check_name("alias", name)
    with project_locked(project, f"lowops models alias {name}"):
        version = _version(project, ref) if ref is not None else None
        before = version_labels.set_alias(project.repo, model, name, version)
        audit.append(project.repo, "alias", model=model, version=version or before, by=who(by),
                     reason=f"@{name} -> {version}" if version else f"@{name} removed", alias=name, previous=before)
    return {"model": model, "alias": f"@{name}", "version": version, "previous": before}


def tag(project: Project, ref: str, value: str, *, remove: bool = False, by: str | None = None) -> dict[str, Any]:
    """Add (or remove) tag ``value`` on a version.

    Raises:
        UsageError: a tag lowops does not accept, or removing one the version does not carry.
        UnknownVersionError: no such version.
    """
    model = project.config.model.name
    with project_locked(project, f"lowops models tag {ref}"):
        version = _version(project, ref)
        tags = version_labels.tag(project.repo, model, version, value, remove=remove)
        audit.append(project.repo, "untag" if remove else "tag", model=model, version=version, by=who(by),
                     reason=value, tag=value)
    return {"model": model, "version": version, "tags": tags}


def describe(project: Project, ref: str, text: str, *, by: str | None = None) -> dict[str, Any]:
    """Set a version's one-line description ('' removes it).

    Raises:
        UnknownVersionError: no such version.
    """
    model = project.config.model.name
    with project_locked(project, f"lowops models describe {ref}"):
        version = _version(project, ref)
        version_labels.describe(project.repo, model, version, text)
        audit.append(project.repo, "describe", model=model, version=version, by=who(by), reason=text or "removed")
    return {"model": model, "version": version, "description": " ".join(text.split()) or None}
