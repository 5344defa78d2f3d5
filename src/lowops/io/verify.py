"""``lowops verify``: the repository's integrity, one finding per line.

Checks every model version's digests (and HMAC, with a key configured) and
that each skops model file needs no type outside ``model.allowed_modules``,
every data version's manifest and digest, that the deploy pointer names
complete versions, that version labels (aliases, tags, descriptions) name
complete versions, that run ledgers parse and the predictions they record are
the files written, the audit chain, that no symbolic link leads out of the
repository, that no one but the owner may write the model registry, and lists
the leftovers of interrupted writes (``.tmp-*``). With ``repair`` the
leftovers are removed, never anything complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lowops.errors import IntegrityError, LowopsError
from lowops.io import audit, deploy, integrity, layout, model_files, registry, snapshots, version_labels
from lowops.io.files import TMP_PREFIX, sha256_bytes, sha256_file
from lowops.io.lock import holder_if_locked
from lowops.io.runs import RunRecord, ledger_files, read_run


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
    """Paths from the repository root to the models that someone but the runner owns or may write:
    models there are refused when loaded."""
    found: list[Finding] = []
    models = layout.models_root(repo)
    if not models.is_dir():
        return found
    for path in [repo, models, *sorted(models.rglob("*"))]:
        if path.is_symlink():
            continue
        found_here = integrity.stranger(path, follow=path == repo)
        if found_here is None:
            continue
        owner, mode = found_here
        found.append(Finding(path, f"writable by its group or others (mode {mode:04o}); lowops refuses to load "
                                   f"models there: chmod go-w {path}" if mode is not None else
                                   f"owned by uid {owner}, not by the user running lowops (uid {os.geteuid()}); "
                                   f"lowops refuses to load models there: chown {os.geteuid()} {path}"))
    return found


def _collected(records: list[RunRecord]) -> list[tuple[int, Path]]:
    """What each ``lowops gc`` run planned to remove (relative paths), with its run number.

    The plan is recorded before anything is removed, so an interrupted gc's removals are known too.
    """
    found = []
    for record in records:
        if record.command != "gc":
            continue
        for item in (record.done("plan") or {}).get("remove", []):
            found += [(_number(record.run_id), Path(p)) for p in item.get("paths", []) if isinstance(p, str)]
    return found


def _number(run_id: str) -> int:
    return int(run_id[1:]) if run_id[1:].isdigit() else 0


def _removed(relative: Path, run_id: str, collected: list[tuple[int, Path]]) -> bool:
    """Whether a later gc removed the file (or a directory holding it): a recorded file that is legitimately gone."""
    return any(number > _number(run_id) and (relative == path or path in relative.parents)
               for number, path in collected)


def _outputs(repo: Path, record: RunRecord, collected: list[tuple[int, Path]]) -> list[Finding]:
    """The predictions a finished run recorded must be the files on disk, unless a later gc removed them."""
    found = []
    for stage in record.stages:
        relative, digest = stage.outputs.get("predictions"), stage.outputs.get("sha256")
        if not stage.done or not isinstance(relative, str) or not isinstance(digest, str):
            continue
        path = repo / relative
        if not path.is_file() and _removed(Path(relative), record.run_id, collected):
            continue
        if not path.is_file():
            found.append(Finding(path, f"recorded by run {record.run_id} but missing"))
        elif sha256_file(path) != digest:
            found.append(Finding(path, f"sha256 differs from the one run {record.run_id} recorded (altered)"))
    return found


def _versions(repo: Path, name: str, allowed: tuple[str, ...]) -> list[Finding]:
    """Each version's files against SHA256SUMS, its card against its directory, its model bytes against the card
    and, for a skops file, the types it needs against ``allowed`` (read from its schema; nothing is built)."""
    found = []
    for version in registry.list_versions(repo, name):
        folder = layout.version_dir(repo, name, version)
        try:
            for problem in registry.verify_version(repo, name, version):
                found.append(Finding(Path(problem.split(": ")[0]), problem.split(": ", 1)[1]))
            card = registry.read_card(repo, name, version)
            if card.version not in (None, version):
                found.append(Finding(folder, f"{layout.CARD_FILE} describes {card.version}, not {version} (versions "
                                             "swapped or copied by hand)"))
            assert card.artifact is not None  # read_card refuses a card without one
            model_file = folder / card.artifact.file
            if model_file.is_file():
                data = model_file.read_bytes()
                if sha256_bytes(data) != card.artifact.sha256:
                    found.append(Finding(model_file, f"sha256 differs from {layout.CARD_FILE} (altered)"))
                elif card.artifact.file == layout.MODEL_FILE:
                    found.extend(_untrusted(model_file, data, allowed))
        except LowopsError as exc:
            if folder.is_symlink():
                continue  # reported once, as a link leading out
            found.append(Finding(folder, str(exc)))
    return found


def _untrusted(model_file: Path, data: bytes, allowed: tuple[str, ...]) -> list[Finding]:
    """A skops file that needs types outside the allow-list: every load refuses it."""
    try:
        refused = model_files.outside(model_files.needed_types(data, model_file), allowed)
    except IntegrityError:
        return [Finding(model_file, "not a readable skops file; lowops refuses to load it")]
    if not refused:
        return []
    return [Finding(model_file, f"needs types outside model.allowed_modules ({', '.join(allowed)}): "
                                f"{', '.join(refused)}; lowops refuses to load it")]


def _pointer(repo: Path, name: str) -> list[Finding]:
    """The deploy pointer names complete versions, and its live slot holds one."""
    path = deploy.pointer_path(repo, name)
    try:
        state = deploy.read_pointer(repo, name)
    except IntegrityError as exc:
        return [Finding(path, str(exc))]
    if not state:
        return []
    found = []
    versions = set(registry.list_versions(repo, name))
    for slot, content in state["slots"].items():
        if content and content.get("version") not in versions:
            found.append(Finding(path, f"slot {slot} names {content.get('version')}, which is not a "
                                       "complete version (dangling pointer)"))
    if not state["slots"].get(state["live"]):
        found.append(Finding(path, f"live slot {state['live']} is empty"))
    return found


def _labels(repo: Path, name: str) -> list[Finding]:
    """The model's ``labels.json`` is lowops's, and every alias, tag and description names a complete version."""
    path = layout.labels_file(repo, name)
    try:
        labels = version_labels.read(repo, name)
    except (IntegrityError, TypeError):
        return [Finding(path, "is not a labels file lowops wrote; restore it from a backup or remove it")]
    versions = set(registry.list_versions(repo, name))
    found = [Finding(path, f"alias @{alias} names {version}, which is not a complete version (dangling alias); "
                           f"point it elsewhere with `lowops models alias {alias} VERSION` or remove it with "
                           f"`lowops models alias {alias} --remove`")
             for alias, version in sorted(labels["aliases"].items()) if version not in versions]
    found += [Finding(path, f"holds {what} for {version}, which is not a complete version")
              for key, what in (("tags", "tags"), ("descriptions", "a description"))
              for version in sorted(labels[key]) if version not in versions]
    return found


def _data(repo: Path) -> list[Finding]:
    """Every data version against its manifest, and every latest-extract pointer."""
    found = []
    root = layout.data_root(repo)
    windows = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for window in windows:
        for kind in snapshots.KINDS:
            try:
                stored = snapshots.versions(repo, window, kind)
            except IntegrityError as exc:
                found.append(Finding(layout.window_data(repo, window), str(exc)))
                continue
            for snap in stored:
                try:
                    snapshots.verify_snapshot(snap)
                except IntegrityError as exc:
                    found.append(Finding(snap.file, str(exc)))
        for pointer in layout.data_pointers(repo, window):
            try:
                snapshots.pointed(repo, window, pointer)
            except IntegrityError as exc:
                found.append(Finding(pointer, str(exc)))
    return found


def _audit(repo: Path, repair: bool, removed: list[Path]) -> list[Finding]:
    """The audit chain; with ``repair`` a head one line behind is brought up to date."""
    problems = audit.check_chain(repo)
    if problems == [audit.HEAD_BEHIND] and repair:
        audit.repair_head(repo)
        removed.append(audit.head_path(repo))
        problems = []
    found = [Finding(audit.head_path(repo), problem, True) if problem == audit.HEAD_BEHIND
             else Finding(audit.audit_path(repo), f"audit chain broken: {problem}") for problem in problems]
    return found + _audit_removed(repo)


def _audit_removed(repo: Path) -> list[Finding]:
    """An audit log that is gone although the deploy history records switches, each of which appended to it."""
    if audit.audit_path(repo).exists() or audit.head_path(repo).exists():
        return []
    found = []
    for name in registry.model_names(repo):
        state = deploy.read_pointer(repo, name) or {}
        switches = [entry for entry in state.get("history", []) if isinstance(entry, dict) and "action" in entry]
        if switches:
            found.append(Finding(audit.audit_path(repo), f"audit chain broken: {layout.AUDIT_LOG_FILE} and "
                                 f"{layout.AUDIT_HEAD_FILE} are missing, yet {deploy.pointer_path(repo, name)} "
                                 f"records {len(switches)} switch(es) that each appended to it (removed)"))
    return found


def _ledgers(repo: Path) -> list[Finding]:
    """Every run ledger parses, and the predictions each recorded are the files on disk."""
    found, records = [], []
    for path in ledger_files(repo):
        try:
            records.append(read_run(path))
        except IntegrityError as exc:
            found.append(Finding(path, str(exc)))
    collected = _collected(records)
    for record in records:
        found.extend(_outputs(repo, record, collected))
    return found


def _appended(repo: Path) -> list[Path]:
    """The files lowops only ever appends to, one line at a time."""
    found = [layout.event_log(repo), layout.metrics_log(repo), layout.audit_log(repo)]
    found += sorted(layout.models_root(repo).glob("*/*.status")) if layout.models_root(repo).is_dir() else []
    return [p for p in found if p.is_file() and not p.is_symlink()]


def _torn_lines(repo: Path) -> list[Finding]:
    """An append file whose last line has no newline: an append cut short (the next one would be glued to it)."""
    found = []
    for path in _appended(repo):
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                continue
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                found.append(Finding(path, "its last line is cut (no newline at the end): an append was "
                                           "interrupted (removable with --repair)", True))
    return found


def _cut_torn_line(path: Path) -> None:
    data = path.read_bytes()
    with open(path, "r+b") as handle:
        handle.truncate(data.rfind(b"\n") + 1)
        os.fsync(handle.fileno())


def _remove(leftovers: list[Finding]) -> tuple[list[Path], list[Finding]]:
    """Remove each leftover; what could not be removed stays a finding."""
    removed, kept = [], []
    for item in leftovers:
        if item.path.is_symlink() or not item.path.is_dir():
            with contextlib.suppress(OSError):
                item.path.unlink()
        else:
            shutil.rmtree(item.path, ignore_errors=True)
        if item.path.exists() or item.path.is_symlink():
            kept.append(Finding(item.path, "leftover of an interrupted write that --repair could not remove; "
                                           "remove it by hand"))
        else:
            removed.append(item.path)
    return removed, kept


def verify(repo: Path, *, repair: bool = False,
           allowed_modules: tuple[str, ...] = ("sklearn",)) -> tuple[list[Finding], list[Path]]:
    """Check the repository; return the findings and what repair removed.

    The caller sets the project's HMAC key first (``registry.use_key``), passes
    ``model.allowed_modules``, and holds the repository lock when ``repair`` is set.
    """
    findings: list[Finding] = []
    if not repo.exists():
        return findings, []
    # While a writer works, its temp files are work in progress, not leftovers.
    busy = holder_if_locked(repo) if not repair else None
    leftovers = [] if busy else _leftovers(repo)
    torn = [] if busy else _torn_lines(repo)
    removed: list[Path] = []
    if repair:
        removed, kept = _remove(leftovers)
        for item in torn:
            _cut_torn_line(item.path)
            removed.append(item.path)
    findings.extend(_links_out(repo))
    findings.extend(_shared_models(repo))
    findings.extend(kept if repair else [*leftovers, *torn])
    for name in registry.model_names(repo):
        findings.extend(_versions(repo, name, allowed_modules))
        findings.extend(_pointer(repo, name))
        findings.extend(_labels(repo, name))
    findings.extend(_data(repo))
    findings.extend(_audit(repo, repair, removed))
    findings.extend(_ledgers(repo))
    return findings, removed
