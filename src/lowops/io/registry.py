"""The model registry: immutable ``models/<name>/vNNNN/`` directories on the filesystem.

A version is staged under a temporary name and renamed into place only when
every file, ``SHA256SUMS`` last, is written. Loading reads the model file's
bytes once, checks their digest against the version's metadata, and only
then deserialises those same bytes: a tampered or truncated file is refused
before any of it is unpickled.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lowops.errors import ConfigError, IntegrityError, UnknownVersionError
from lowops.io import integrity
from lowops.io.files import read_json, sha256_bytes, sha256_file, staged_dir, write_bytes, write_json, write_text

MODEL_FILE = "model.joblib"
META_FILE = "model.json"
SUMS_FILE = "SHA256SUMS"
_VERSION = re.compile(r"^v([0-9]{4,6})\Z")

# The HMAC key of each repository a command opened (see ``use_key``); none: digests only.
_KEYS: dict[Path, integrity.KeyLoader] = {}


def use_key(repo: Path, load: integrity.KeyLoader) -> None:
    """Sign new versions of ``repo`` and verify loaded ones with the key ``load`` returns (None: no key)."""
    _KEYS[Path(repo).resolve()] = load


def signing_key(repo: Path) -> bytes | None:
    """The HMAC key configured for ``repo`` (None: none, or no command opened it)."""
    load = _KEYS.get(Path(repo).resolve())
    return load() if load is not None else None


def model_dir(repo: Path, name: str) -> Path:
    """``repo/models/<name>``, refusing a name that would lead anywhere else.

    Raises:
        ConfigError: the name resolves outside ``repo/models`` (config validation refuses such names first).
    """
    models = repo / "models"
    path = models / name
    if not name or path.parent != models or not path.resolve().is_relative_to(models.resolve()):
        raise ConfigError(f"The model name {name!r} does not name a directory inside {models}; use letters, "
                          "digits, '_' or '-'.")
    return path


def inside(repo: Path, path: Path) -> None:
    """Refuse a version (or a file in it) that is a symbolic link leading out of the repository.

    Raises:
        IntegrityError: ``path`` resolves outside ``repo``.
    """
    if not path.resolve().is_relative_to(repo.resolve()):
        raise IntegrityError(f"{path} leads outside the repository (to {path.resolve()}); refusing to use it. "
                             "Run `lowops verify` and remove the link.")


def list_versions(repo: Path, name: str) -> list[str]:
    """Complete versions of a model, oldest first (staging leftovers are ignored)."""
    base = model_dir(repo, name)
    if not base.is_dir():
        return []
    with os.scandir(base) as entries:
        found = [e.name for e in entries if _VERSION.match(e.name) and e.is_dir()]
    return sorted(found, key=lambda v: int(v[1:]))


def next_version(repo: Path, name: str) -> str:
    existing = list_versions(repo, name)
    number = int(existing[-1][1:]) + 1 if existing else 1
    return f"v{number:04d}"


def version_of_run(repo: Path, name: str, run_id: str, reason: str) -> str | None:
    """The newest version run ``run_id`` registered for ``reason`` (a prefix of the recorded one), if any.

    A run killed after registering a version but before using it is continued
    under its own id; this lets it use that version instead of training a twin.
    """
    for version in reversed(list_versions(repo, name)):
        try:
            meta = read_metadata(repo, name, version, checked=True)
        except IntegrityError:
            continue
        if meta.get("run_id") == run_id and str(meta.get("reason", "")).startswith(reason):
            return version
    return None


def check_version(repo: Path, name: str, version: str) -> Path:
    """The directory of an existing version, or a usage error listing the valid ones."""
    versions = list_versions(repo, name)
    if not _VERSION.match(version) or version not in versions:
        listed = ", ".join(versions) if versions else "none yet (run `lowops train`)"
        raise UnknownVersionError(f"Model '{name}' has no version {version!r}; versions: {listed}.")
    path = model_dir(repo, name) / version
    inside(repo, path)
    return path


def register(repo: Path, name: str, model_bytes: bytes, metadata: dict[str, Any],
             metrics_text: str, extra_files: dict[str, bytes]) -> tuple[str, dict[str, Any]]:
    """Write a new, complete version and return its id and final metadata.

    The caller holds the repository lock, so the next number is ours alone.
    """
    version = next_version(repo, name)
    final = model_dir(repo, name) / version
    meta = dict(metadata)
    meta["version"] = version
    meta["artifact"] = {"file": MODEL_FILE, "sha256": sha256_bytes(model_bytes), "bytes": len(model_bytes)}
    key = signing_key(repo)
    if key is not None:
        meta["artifact"]["hmac_sha256"] = integrity.sign(key, model_bytes)
    with staged_dir(final) as stage:
        write_bytes(stage / MODEL_FILE, model_bytes)
        for filename, data in sorted(extra_files.items()):
            write_bytes(stage / filename, data)
        write_text(stage / "metrics.txt", metrics_text)
        write_json(stage / META_FILE, meta)
        sums = "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(stage.iterdir()))
        write_text(stage / SUMS_FILE, sums)  # last: marks the version complete
    return version, meta


def read_metadata(repo: Path, name: str, version: str, *, checked: bool = False) -> dict[str, Any]:
    """A version's model.json (``checked``: the caller listed the version already)."""
    base = model_dir(repo, name) / version if checked else check_version(repo, name, version)
    path = base / META_FILE
    if not path.is_file():
        raise IntegrityError(f"{path} is missing; the version is incomplete. Run `lowops verify`.")
    meta = read_json(path)
    if not isinstance(meta, dict) or "artifact" not in meta:
        raise IntegrityError(f"{path} is not a valid model description; run `lowops verify`.")
    return meta


def verify_version(repo: Path, name: str, version: str) -> list[str]:
    """Every problem with a version's files (empty when all digests match)."""
    base = check_version(repo, name, version)
    sums = base / SUMS_FILE
    if not sums.is_file():
        return [f"{sums}: missing (the version was never completed)"]
    problems = []
    listed = set()
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, filename = line.partition("  ")
        listed.add(filename)
        target = base / filename
        if not target.is_file():
            problems.append(f"{target}: listed in SHA256SUMS but missing")
        elif sha256_file(target) != digest:
            problems.append(f"{target}: sha256 does not match SHA256SUMS (altered)")
    for path in base.iterdir():
        if path.name not in listed and path.name != SUMS_FILE:
            problems.append(f"{path}: not listed in SHA256SUMS")
    return problems


def _stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_model(repo: Path, name: str, version: str,
               warn: Callable[[str], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Verify, then deserialise, a version's model.

    Before any byte is deserialised: the file's sha256 (and, with a key configured,
    its HMAC) must match what was recorded at registration, and the libraries it was
    built with must be the running ones' major versions (another minor version
    warns through ``warn``, stderr by default). After: the fitted model's input
    columns must be its schema contract's.

    Raises:
        UnknownVersionError: no such version.
        IntegrityError: the file's digest or HMAC differs from the one recorded at
            registration, the version leads outside the repository, it needs another
            major library version, or its model and contract disagree.
    """
    meta = read_metadata(repo, name, version)
    what = f"{name} {version}"
    path = model_dir(repo, name) / version / MODEL_FILE
    inside(repo, path)
    if meta.get("version") not in (None, version) or meta.get("model") not in (None, name):
        raise IntegrityError(f"Refusing to load {path}: its model.json describes {meta.get('model')} "
                             f"{meta.get('version')}, not {what}, so versions were swapped or copied by hand. "
                             "Run `lowops verify`.")
    integrity.check_libraries(meta, what, warn or _stderr)
    integrity.check_not_shared([repo / "models", path.parent.parent, path.parent, path], what)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing; the version cannot be loaded.") from None
    expected = meta["artifact"]["sha256"]
    actual = sha256_bytes(data)
    if actual != expected:
        raise IntegrityError(
            f"Refusing to load {path}: its sha256 {actual[:16]}… differs from the {expected[:16]}… "
            f"recorded at registration, so the file was altered or truncated. Roll back with "
            f"`lowops rollback` or retrain; do not use this file."
        )
    key = signing_key(repo)
    if key is not None:
        integrity.check_hmac(key, data, meta["artifact"], path)
    import joblib

    # The very bytes whose digest was checked are the bytes deserialised.
    model = joblib.load(io.BytesIO(data))
    integrity.check_feature_names(model, meta, what)
    return model, meta
