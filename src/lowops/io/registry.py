"""The model registry: immutable ``models/<name>/vNNNN/`` directories on the filesystem.

A version is staged under a temporary name and renamed into place only when
every file, ``SHA256SUMS`` last, is written. Loading reads the model file's
bytes once, checks their digest against the version's card, and only then
deserialises those same bytes: a tampered or truncated file is refused before
any of it is unpickled.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError, NotTrainedError, UnknownVersionError
from lowops.io import deploy, integrity, layout
from lowops.io.files import read_json, sha256_bytes, sha256_file, staged_dir, write_bytes, write_json, write_text
from lowops.model.card import Artifact, CardError, ModelCard

# The HMAC key of each repository a command opened (see ``use_key``); none: digests only.
_KEYS: dict[Path, integrity.KeyLoader] = {}

Warn = Callable[[str], None]


def use_key(repo: Path, load: integrity.KeyLoader) -> None:
    """Sign new versions of ``repo`` and verify loaded ones with the key ``load`` returns (None: no key)."""
    _KEYS[Path(repo).resolve()] = load


def signing_key(repo: Path) -> bytes | None:
    """The HMAC key configured for ``repo`` (None: none, or no command opened it)."""
    load = _KEYS.get(Path(repo).resolve())
    return load() if load is not None else None


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
    base = layout.model_dir(repo, name)
    if not base.is_dir():
        return []
    with os.scandir(base) as entries:
        found = [e.name for e in entries if layout.is_version(e.name) and e.is_dir()]
    return sorted(found, key=layout.version_number)


def model_names(repo: Path) -> list[str]:
    """Every model the registry holds versions of (for ``lowops verify``)."""
    root = layout.models_root(repo)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def next_version(repo: Path, name: str) -> str:
    existing = list_versions(repo, name)
    return layout.version_name(layout.version_number(existing[-1]) + 1 if existing else 1)


def version_of_run(repo: Path, name: str, run_id: str, reason: str) -> str | None:
    """The newest version run ``run_id`` registered for ``reason`` (a prefix of the recorded one), if any.

    A run killed after registering a version but before using it is continued
    under its own id; this lets it use that version instead of training a twin.
    """
    for version in reversed(list_versions(repo, name)):
        try:
            card = read_card(repo, name, version, checked=True)
        except IntegrityError:
            continue
        if card.run_id == run_id and card.reason.startswith(reason):
            return version
    return None


def check_version(repo: Path, name: str, version: str) -> Path:
    """The directory of an existing version, or a usage error listing the valid ones."""
    versions = list_versions(repo, name)
    if not layout.is_version(version) or version not in versions:
        listed = ", ".join(versions) if versions else "none yet (run `lowops train`)"
        raise UnknownVersionError(f"Model '{name}' has no version {version!r}; versions: {listed}.")
    path = layout.version_dir(repo, name, version)
    inside(repo, path)
    return path


def dump_model(model: Any) -> bytes:
    """The bytes of a fitted model as the registry stores them (joblib)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def register(repo: Path, name: str, model_bytes: bytes, card: ModelCard,
             metrics_text: str, extra_files: dict[str, bytes]) -> ModelCard:
    """Write a new, complete version and return its card as recorded (version id and digests set).

    The caller holds the repository lock, so the next number is ours alone.
    """
    version = next_version(repo, name)
    key = signing_key(repo)
    card = card.registered(version, Artifact(file=layout.MODEL_FILE, sha256=sha256_bytes(model_bytes),
                                             bytes=len(model_bytes),
                                             hmac_sha256=integrity.sign(key, model_bytes) if key else None))
    with staged_dir(layout.version_dir(repo, name, version)) as stage:
        write_bytes(stage / layout.MODEL_FILE, model_bytes)
        for filename, data in sorted(extra_files.items()):
            write_bytes(stage / filename, data)
        write_text(stage / layout.METRICS_FILE, metrics_text)
        write_json(stage / layout.CARD_FILE, card.to_dict())
        sums = "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(stage.iterdir()))
        write_text(stage / layout.SUMS_FILE, sums)  # last: marks the version complete
    return card


def read_card(repo: Path, name: str, version: str, *, checked: bool = False) -> ModelCard:
    """A version's model card (``checked``: the caller listed the version already).

    Raises:
        UnknownVersionError: no such version.
        IntegrityError: ``model.json`` is missing or does not describe a model version.
    """
    base = layout.version_dir(repo, name, version) if checked else check_version(repo, name, version)
    path = base / layout.CARD_FILE
    if not path.is_file():
        raise IntegrityError(f"{path} is missing; the version is incomplete. Run `lowops verify`.")
    try:
        card = ModelCard.from_dict(read_json(path))
    except CardError as exc:
        raise IntegrityError(f"{path} is not a valid model description ({exc}); run `lowops verify`.") from None
    if card.artifact is None:
        raise IntegrityError(f"{path} is not a valid model description (no artifact); run `lowops verify`.")
    return card


def verify_version(repo: Path, name: str, version: str) -> list[str]:
    """Every problem with a version's files (empty when all digests match)."""
    base = check_version(repo, name, version)
    sums = base / layout.SUMS_FILE
    if not sums.is_file():
        return [f"{sums}: missing (the version was never completed)"]
    problems = []
    listed = set()
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, filename = line.partition("  ")
        listed.add(filename)
        target = base / filename
        if not target.is_file():
            problems.append(f"{target}: listed in {layout.SUMS_FILE} but missing")
        elif sha256_file(target) != digest:
            problems.append(f"{target}: sha256 does not match {layout.SUMS_FILE} (altered)")
    for path in base.iterdir():
        if path.name not in listed and path.name != layout.SUMS_FILE:
            problems.append(f"{path}: not listed in {layout.SUMS_FILE}")
    return problems


def _stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def load_model(repo: Path, name: str, version: str, warn: Warn | None = None) -> tuple[Any, ModelCard]:
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
    card = read_card(repo, name, version)
    what = f"{name} {version}"
    path = layout.version_dir(repo, name, version) / layout.MODEL_FILE
    inside(repo, path)
    if card.version not in (None, version) or card.model != name:
        raise IntegrityError(f"Refusing to load {path}: its {layout.CARD_FILE} describes {card.model} "
                             f"{card.version}, not {what}, so versions were swapped or copied by hand. "
                             "Run `lowops verify`.")
    integrity.check_libraries(card.lineage.packages, what, warn or _stderr)
    integrity.check_not_shared([layout.models_root(repo), path.parent.parent, path.parent, path], what)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing; the version cannot be loaded.") from None
    assert card.artifact is not None  # read_card refuses a card without one
    expected = card.artifact.sha256
    actual = sha256_bytes(data)
    if actual != expected:
        raise IntegrityError(
            f"Refusing to load {path}: its sha256 {actual[:16]}… differs from the {expected[:16]}… "
            f"recorded at registration, so the file was altered or truncated. Roll back with "
            f"`lowops rollback` or retrain; do not use this file."
        )
    key = signing_key(repo)
    if key is not None:
        integrity.check_hmac(key, data, card.artifact.hmac_sha256, path)
    import joblib

    # The very bytes whose digest was checked are the bytes deserialised.
    model = joblib.load(io.BytesIO(data))
    integrity.check_feature_names(model, card.schema.names, what)
    return model, card


def load_live(repo: Path, name: str, warn: Warn | None = None) -> tuple[Any, ModelCard, str]:
    """The live model, verified and loaded, with its card and slot.

    Raises:
        NotTrainedError: nothing was ever deployed.
        IntegrityError: the pointer names a version the registry does not hold
            (never a silent fallback to another one), or the model fails its checks.
    """
    state = deploy.read_pointer(repo, name)
    if state is None:
        raise NotTrainedError(f"No version of model '{name}' is live yet; run `lowops train` first.")
    version = deploy.live_version(repo, name)
    assert version is not None
    versions = list_versions(repo, name)
    if version not in versions:
        raise IntegrityError(
            f"{deploy.pointer_path(repo, name)} names {name} {version} live, but the registry has no complete "
            f"version {version} (versions: {', '.join(versions) or 'none'}); run `lowops verify`, then "
            "`lowops promote VERSION` or restore the version.")
    model, card = load_model(repo, name, version, warn=warn)
    return model, card, str(state["live"])
