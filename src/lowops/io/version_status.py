"""The life of a model version after registration: ``models/<name>/<version>.status``.

Versions are immutable, so their status (candidate, pending, rejected,
promoted, superseded …) lives beside them in an append-only file of JSON
lines; the last line is the current status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.io import layout
from lowops.io.files import append_line
from lowops.io.logs import utc_now
from lowops.io.registry import list_versions

STATUSES = ("candidate", "staged", "pending", "approved", "promoted", "rejected", "superseded", "retired", "lost")


def status_path(repo: Path, name: str, version: str) -> Path:
    return layout.status_file(repo, name, version)


def history(repo: Path, name: str, version: str) -> list[dict[str, Any]]:
    """Every status change of a version, oldest first."""
    path = status_path(repo, name, version)
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def current(repo: Path, name: str, version: str) -> dict[str, Any] | None:
    """The latest status record of a version, or None if it never had one."""
    found = history(repo, name, version)
    return found[-1] if found else None


def record(repo: Path, name: str, version: str, status: str, *, by: str, reason: str,
           **details: Any) -> dict[str, Any]:
    """Append a status change (the caller holds the repository lock)."""
    assert status in STATUSES, status
    entry = {"at": utc_now(), "version": version, "status": status, "by": secrets.redact(by),
             "reason": secrets.redact(" ".join(reason.split())), **details}
    append_line(status_path(repo, name, version), json.dumps(entry, sort_keys=True, default=str))
    return entry


def with_status(repo: Path, name: str, status: str) -> list[dict[str, Any]]:
    """The versions whose current status is ``status``, oldest first."""
    found = []
    for version in list_versions(repo, name):
        entry = current(repo, name, version)
        if entry is not None and entry["status"] == status:
            found.append(entry)
    return found
