"""``lowops verify``: the repository's integrity, one finding per line.

Checks every model version's digests (and HMAC, with a key configured),
every data version's manifest and digest, that the deploy pointer names
complete versions, that run ledgers parse and the predictions they record are
the files written, the audit chain, that no symbolic link leads out of the
repository, that no one but the owner may write the model registry, and lists
the leftovers of interrupted writes (``.tmp-*``). With ``repair`` the
leftovers are removed, never anything complete.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lowops.config import Project
from lowops.errors import IntegrityError, LowopsError
from lowops.io import deploy, integrity, registry, snapshots
from lowops.io.files import TMP_PREFIX, read_json, sha256_bytes, sha256_file


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


def _links_out(repo: Path) -> list[Finding]:
    """Symbolic links that lead out of the repository (a planted version, say): never followed."""
    root = repo.resolve()
    found = []
    for folder, dirs, files in os.walk(repo):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                found.append(Finding(path, f"symbolic link leading outside the repository (to {os.readlink(path)}); "
                                           "lowops refuses to load it: remove it"))
    return found


def _shared_models(repo: Path) -> list[Finding]:
    """Registry paths that the group or others may write: models there are refused when loaded."""
    found = []
    models = repo / "models"
    if not models.is_dir():
        return found
    for path in [models, *models.rglob("*")]:
        mode = None if path.is_symlink() else integrity.others_may_write(path, follow=False)
        if mode is not None:
            found.append(Finding(path, f"writable by its group or others (mode {mode:04o}); lowops refuses "
                                       f"to load models there: chmod go-w {path}"))
    return found


def _outputs(repo: Path, record: dict[str, Any]) -> list[Finding]:
    """The predictions a finished run recorded must be the files on disk."""
    found = []
    for stage in record.get("stages") or []:
        outputs = (stage.get("outputs") or {}) if isinstance(stage, dict) else {}
        relative, digest = outputs.get("predictions"), outputs.get("sha256")
        if stage.get("status") != "done" or not isinstance(relative, str) or not isinstance(digest, str):
            continue
        path = repo / relative
        if not path.is_file():
            found.append(Finding(path, f"recorded by run {record.get('run_id')} but missing"))
        elif sha256_file(path) != digest:
            found.append(Finding(path, f"sha256 differs from the one run {record.get('run_id')} recorded (altered)"))
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
    findings.extend(_links_out(repo))
    findings.extend(_shared_models(repo))
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
    from lowops.stages.context import use_model_key

    use_model_key(project)
    for name in names:
        for version in registry.list_versions(repo, name):
            try:
                for problem in registry.verify_version(repo, name, version):
                    findings.append(Finding(Path(problem.split(": ")[0]), problem.split(": ", 1)[1]))
                meta = registry.read_metadata(repo, name, version)
                if meta.get("version") not in (None, version):
                    findings.append(Finding(registry.model_dir(repo, name) / version,
                                            f"model.json describes {meta.get('version')}, not {version} (versions "
                                            "swapped or copied by hand)"))
                model_file = registry.model_dir(repo, name) / version / registry.MODEL_FILE
                if model_file.is_file():
                    data = model_file.read_bytes()
                    if sha256_bytes(data) != meta["artifact"]["sha256"]:
                        findings.append(Finding(model_file, "sha256 differs from model.json (altered)"))
                    key = registry.signing_key(repo)
                    if key is not None:
                        integrity.check_hmac(key, data, meta["artifact"], model_file)
            except LowopsError as exc:
                if (registry.model_dir(repo, name) / version).is_symlink():
                    continue  # reported once, as a link leading out
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

    problems = audit.check_chain(repo)
    if problems == [audit.HEAD_BEHIND] and repair:
        audit.repair_head(repo)
        removed.append(audit.head_path(repo))
        problems = []
    for problem in problems:
        if problem == audit.HEAD_BEHIND:
            findings.append(Finding(audit.head_path(repo), problem, True))
        else:
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
                continue
            findings.extend(_outputs(repo, record))
    return findings, removed
