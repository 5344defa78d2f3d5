"""``lowops verify``: the repository's integrity, one finding per line.

Checks every model version's digests, every data version's manifest and
digest, that the deploy pointer names complete versions, that run ledgers
parse, and lists the leftovers of interrupted writes (``.tmp-*``). With
``repair`` the leftovers are removed, never anything complete.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from lowops.config import Project
from lowops.errors import IntegrityError, LowopsError
from lowops.io import deploy, registry, snapshots
from lowops.io.files import TMP_PREFIX, read_json


@dataclass(frozen=True)
class Finding:
    path: Path
    problem: str
    removable: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def _leftovers(repo: Path) -> list[Finding]:
    found = []
    for path in repo.rglob(TMP_PREFIX + "*"):
        found.append(Finding(path, "leftover of an interrupted write (removable with --repair)", True))
    return found


def verify(project: Project, *, repair: bool = False) -> tuple[list[Finding], list[Path]]:
    """Check the repository; return the findings and what repair removed."""
    repo = project.repo
    findings: list[Finding] = []
    if not repo.exists():
        return findings, []
    from lowops.io.lock import holder_if_locked

    # While a writer works, its temp files are work in progress, not leftovers.
    busy = holder_if_locked(repo) if not repair else None
    leftovers = [] if busy else _leftovers(repo)
    removed = []
    if repair:
        for item in leftovers:
            if item.path.is_dir():
                shutil.rmtree(item.path, ignore_errors=True)
            else:
                item.path.unlink(missing_ok=True)
            removed.append(item.path)
    else:
        findings.extend(leftovers)

    models_root = repo / "models"
    names = sorted(p.name for p in models_root.iterdir() if p.is_dir()) if models_root.is_dir() else []
    for name in names:
        for version in registry.list_versions(repo, name):
            for problem in registry.verify_version(repo, name, version):
                findings.append(Finding(Path(problem.split(": ")[0]), problem.split(": ", 1)[1]))
            try:
                meta = registry.read_metadata(repo, name, version)
                model_file = registry.model_dir(repo, name) / version / registry.MODEL_FILE
                if model_file.is_file():
                    from lowops.io.files import sha256_file

                    if sha256_file(model_file) != meta["artifact"]["sha256"]:
                        findings.append(Finding(model_file, "sha256 differs from model.json (altered)"))
            except LowopsError as exc:
                findings.append(Finding(registry.model_dir(repo, name) / version, str(exc)))
        try:
            state = deploy.read_pointer(repo, name)
        except IntegrityError as exc:
            findings.append(Finding(deploy.pointer_path(repo, name), str(exc)))
            continue
        if state:
            versions = set(registry.list_versions(repo, name))
            for slot, content in state["slots"].items():
                if content and content.get("version") not in versions:
                    findings.append(Finding(deploy.pointer_path(repo, name),
                                            f"slot {slot} names {content.get('version')}, which is not a "
                                            "complete version (dangling pointer)"))
            live = state["slots"].get(state["live"])
            if not live:
                findings.append(Finding(deploy.pointer_path(repo, name), f"live slot {state['live']} is empty"))

    data_root = repo / "data"
    if data_root.is_dir():
        for window_dir in sorted(p for p in data_root.iterdir() if p.is_dir()):
            for kind in snapshots.KINDS:
                try:
                    found = snapshots.versions(repo, window_dir.name, kind)
                except IntegrityError as exc:
                    findings.append(Finding(window_dir, str(exc)))
                    continue
                for snap in found:
                    try:
                        snapshots.verify_snapshot(snap)
                    except IntegrityError as exc:
                        findings.append(Finding(snap.file, str(exc)))
                try:
                    snapshots.latest(repo, window_dir.name, kind)
                except IntegrityError as exc:
                    findings.append(Finding(snapshots.pointer_path(window_dir, kind), str(exc)))

    from lowops.io import audit

    for problem in audit.check_chain(repo):
        findings.append(Finding(audit.audit_path(repo), f"audit chain broken: {problem}"))

    runs = repo / "runs"
    if runs.is_dir():
        for ledger in sorted(runs.glob("r*.json")):
            try:
                record = read_json(ledger)
                if not isinstance(record, dict) or "run_id" not in record:
                    raise IntegrityError("not a run ledger")
            except IntegrityError as exc:
                findings.append(Finding(ledger, str(exc)))
    return findings, removed
