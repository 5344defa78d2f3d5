"""The model registry: immutable ``models/<name>/vNNNN/`` directories on the filesystem.

A version is staged under a temporary name and renamed into place only when
every file is written: ``SHA256SUMS`` (the digest of every other file), then
``SIGNATURE`` (the HMAC of ``SHA256SUMS`` under the repository's key,
:mod:`lowops.io.keys`). Reading a version trusts a file only once its digest
matches a signed ``SHA256SUMS``: the model, ``model.json``, ``reference.json``.
Loading reads the model file's bytes once, checks them, and only then
deserialises those same bytes: a tampered, truncated or forged file is refused
before any of it is read as a model, and so is a version whose path someone
other than the runner owns or may write. New versions are skops files, rebuilt
only from the types ``model.allowed_modules`` allows; a version saved before as
a pickle is unpickled only once its bytes' HMAC verified with the repository's
key (:mod:`lowops.io.model_files`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lowops.errors import ConfigError, IntegrityError, NotTrainedError, UnknownVersionError
from lowops.io import deploy, integrity, keys, layout, model_files
from lowops.io.files import (
    sha256_bytes,
    sha256_file,
    staged_dir,
    write_bytes,
    write_json,
    write_text,
)
from lowops.model.card import Artifact, CardError, ModelCard

Warn = Callable[[str], None]
# A version is used only when its signed digests cover these, and its model file (one of layout.MODEL_FILES).
REQUIRED = (layout.CARD_FILE, layout.REFERENCE_FILE)


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


def dump_model(model: Any, allowed_modules: Iterable[str], config_file: object) -> bytes:
    """The bytes of a fitted model as the registry stores them (skops), once they are shown loadable.

    A model that needs types outside ``allowed_modules`` would be refused by every
    later load, so it is not registered at all.

    Raises:
        ConfigError: the model needs types outside ``model.allowed_modules``.
    """
    allowed = tuple(allowed_modules)
    data = model_files.dumps(model)
    refused = model_files.outside(model_files.needed_types(data, "the fitted model"), allowed)
    if refused:
        raise ConfigError(f"{config_file}: the fitted model needs types outside 'model.allowed_modules' "
                          f"({', '.join(allowed)}): {', '.join(refused)}, so no load would trust it; list their "
                          "packages under model.allowed_modules if you trust their code.")
    return data


def register(repo: Path, name: str, model_bytes: bytes, card: ModelCard,
             metrics_text: str, extra_files: dict[str, bytes]) -> ModelCard:
    """Write a new, complete, signed version and return its card as recorded (version id and digests set).

    The caller holds the repository lock, so the next number is ours alone.

    Raises:
        IntegrityError: there is no key to sign with.
    """
    version = next_version(repo, name)
    signer = keys.of(repo)
    key_name, model_mac = signer.sign(model_bytes)
    card = card.registered(version, Artifact(file=layout.MODEL_FILE, sha256=sha256_bytes(model_bytes),
                                             bytes=len(model_bytes), hmac_sha256=model_mac))
    with staged_dir(layout.version_dir(repo, name, version)) as stage:
        write_bytes(stage / layout.MODEL_FILE, model_bytes)
        for filename, data in sorted(extra_files.items()):
            write_bytes(stage / filename, data)
        write_text(stage / layout.METRICS_FILE, metrics_text)
        write_json(stage / layout.CARD_FILE, card.to_dict())
        sums = "".join(f"{sha256_file(p)}  {p.name}\n" for p in sorted(stage.iterdir())).encode("utf-8")
        write_bytes(stage / layout.SUMS_FILE, sums)
        # Last: marks the version complete, and makes its digests the key holder's word.
        write_json(stage / layout.SIGNATURE_FILE, {"key": key_name, "sha256sums_hmac": signer.sign(sums)[1]})
    return card


def _signature_problem(repo: Path, name: str, version: str) -> tuple[Path, str] | None:
    """What keeps a version's ``SHA256SUMS`` from being the key holder's word: the file at fault and why."""
    base = layout.version_dir(repo, name, version)
    sums, signature = base / layout.SUMS_FILE, base / layout.SIGNATURE_FILE
    for path in (sums, signature):
        if not path.is_file():
            return path, "missing, so nothing vouches for the version's files"
    try:
        record = json.loads(signature.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = None
    trusted = keys.of(repo)
    if isinstance(record, dict) and trusted.valid(record.get("key"), record.get("sha256sums_hmac"),
                                                  sums.read_bytes()):
        return None
    signer = record.get("key") if isinstance(record, dict) else None
    if not trusted.accepted:
        return signature, f"unverifiable: there is no integrity key to check it with ({trusted.where})"
    if signer not in trusted.accepted:
        return signature, f"signed with key {signer}, which is not the repository's (see integrity in the config)"
    return signature, f"not a signature of {layout.SUMS_FILE}: the digests were changed by someone without the key"


def _signed_sums(repo: Path, name: str, version: str) -> dict[str, str]:
    """A version's file digests, from a ``SHA256SUMS`` whose signature is the repository key's.

    Raises:
        IntegrityError: the sums or the signature are missing, or the signature is not the key's.
    """
    problem = _signature_problem(repo, name, version)
    if problem is not None:
        path, why = problem
        raise IntegrityError(f"Refusing to use {name} {version}: {path} is {why}. Roll back with `lowops "
                             "rollback` or retrain; do not use this version.")
    digests = {}
    data = (layout.version_dir(repo, name, version) / layout.SUMS_FILE).read_text(encoding="utf-8", errors="replace")
    for line in data.splitlines():
        digest, _, filename = line.partition("  ")
        digests[filename] = digest
    absent = [f for f in REQUIRED if f not in digests]
    if not any(f in digests for f in layout.MODEL_FILES):
        absent.insert(0, layout.MODEL_FILE)
    if absent:
        raise IntegrityError(f"Refusing to use {name} {version}: its signed {layout.SUMS_FILE} does not list "
                             f"{', '.join(absent)}; retrain it.")
    return digests


def trusted_file(repo: Path, name: str, version: str, filename: str) -> bytes:
    """One file of a version, read once and returned only if its digest is the signed one.

    Raises:
        IntegrityError: the version is not signed, or the file differs from its signed digest.
    """
    digests = _signed_sums(repo, name, version)
    path = layout.version_dir(repo, name, version) / filename
    inside(repo, path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing; the version cannot be used.") from None
    if digests.get(filename) != sha256_bytes(data):
        raise IntegrityError(f"Refusing to use {path}: its sha256 differs from the signed {layout.SUMS_FILE}, so "
                             "the file was altered; run `lowops verify`.")
    return data


def read_card(repo: Path, name: str, version: str, *, checked: bool = False) -> ModelCard:
    """A version's model card, trusted only as its signed digests say (``checked``: the version was listed).

    Raises:
        UnknownVersionError: no such version.
        IntegrityError: ``model.json`` is missing, altered, unsigned, or does not describe a model version.
    """
    base = layout.version_dir(repo, name, version) if checked else check_version(repo, name, version)
    path = base / layout.CARD_FILE
    if not path.is_file():
        raise IntegrityError(f"{path} is missing; the version is incomplete. Run `lowops verify`.")
    data = trusted_file(repo, name, version, layout.CARD_FILE)
    try:
        card = ModelCard.from_dict(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path} is not valid JSON ({exc}); run `lowops verify`.") from None
    except CardError as exc:
        raise IntegrityError(f"{path} is not a valid model description ({exc}); run `lowops verify`.") from None
    if card.artifact is None:
        raise IntegrityError(f"{path} is not a valid model description (no artifact); run `lowops verify`.")
    if card.artifact.file not in layout.MODEL_FILES:
        raise IntegrityError(f"{path} names {card.artifact.file!r} as its model file, which is none of "
                             f"{', '.join(layout.MODEL_FILES)}; run `lowops verify`.")
    return card


def verify_version(repo: Path, name: str, version: str) -> list[str]:
    """Every problem with a version's files, as ``path: problem`` (empty when its signed digests all match)."""
    base = check_version(repo, name, version)
    sums = base / layout.SUMS_FILE
    if not sums.is_file():
        return [f"{sums}: missing (the version was never completed)"]
    problems = []
    signature = _signature_problem(repo, name, version)
    if signature is not None:
        problems.append(f"{signature[0]}: {signature[1]}")
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
        if path.name not in listed and path.name not in (layout.SUMS_FILE, layout.SIGNATURE_FILE):
            problems.append(f"{path}: not listed in {layout.SUMS_FILE}")
    return problems


def _stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def check_owned(repo: Path, name: str, version: str) -> Path:
    """A version's directory, once no one but the runner can have put its files there (see ``integrity.check_owned``).

    Raises:
        UnknownVersionError: no such version.
        IntegrityError: a path from the repository root down is another user's, or writable by group or others.
    """
    folder = check_version(repo, name, version)
    for model_file in layout.MODEL_FILES:
        inside(repo, folder / model_file)
    files = (*layout.MODEL_FILES, *REQUIRED, layout.SUMS_FILE, layout.SIGNATURE_FILE)
    integrity.check_owned(repo, [folder / f for f in files], f"{name} {version}")
    return folder


def load_model(repo: Path, name: str, version: str, warn: Warn | None = None, *,
               allowed_modules: Iterable[str], pickles: bool) -> tuple[Any, ModelCard]:
    """Verify, then deserialise, a version's model.

    Before any byte is deserialised: the whole path from the repository root down
    is the runner's alone, the version's ``SHA256SUMS`` carries the key's signature,
    ``model.json`` and the model file match their signed digests, and the libraries
    the model was built with are the running ones' major versions (another minor
    version warns through ``warn``, stderr by default). A skops file is then rebuilt
    only if every type it needs is in ``allowed_modules`` (``model.allowed_modules``);
    a pickle (a version saved before skops) only if ``pickles`` (``integrity.load_pickles``)
    and its bytes' HMAC is the key's.
    After: the fitted model's input columns must be its schema contract's.

    Raises:
        UnknownVersionError: no such version.
        IntegrityError: a path on the way is not the runner's alone, the version is not
            signed with the repository's key, a file differs from its signed digest,
            the version leads outside the repository, it needs another major library
            version, a type outside ``allowed_modules``, is a pickle while ``pickles`` is false,
            or its model and contract disagree.
    """
    folder = check_owned(repo, name, version)
    what = f"{name} {version}"
    card = read_card(repo, name, version)
    assert card.artifact is not None  # read_card refuses a card without one, or naming another file
    path = folder / card.artifact.file
    if card.version not in (None, version) or card.model != name:
        raise IntegrityError(f"Refusing to load {path}: its {layout.CARD_FILE} describes {card.model} "
                             f"{card.version}, not {what}, so versions were swapped or copied by hand. "
                             "Run `lowops verify`.")
    integrity.check_libraries(card.lineage.packages, what, warn or _stderr)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"{path} is missing; the version cannot be loaded.") from None
    expected = card.artifact.sha256
    actual = sha256_bytes(data)
    if actual != expected:
        raise IntegrityError(
            f"Refusing to load {path}: its sha256 {actual[:16]}… differs from the {expected[:16]}… "
            f"recorded at registration, so the file was altered or truncated. Roll back with "
            f"`lowops rollback` or retrain; do not use this file."
        )
    # The very bytes whose digest was checked are the bytes deserialised.
    if card.artifact.file == layout.JOBLIB_FILE:
        if not pickles:
            raise IntegrityError(f"Refusing to load {path}: it is a pickle (a version saved before model.skops), and "
                                 "integrity.load_pickles is false. Retrain or promote a skops version, or set "
                                 "integrity.load_pickles: true if you trust this version.")
        _check_pickle_signed(repo, name, version, data, card.artifact.hmac_sha256)
        model = model_files.load_pickle(data)
    else:
        model = model_files.load_skops(data, allowed_modules, path)
    integrity.check_feature_names(model, card.schema.names, what)
    return model, card


def _check_pickle_signed(repo: Path, name: str, version: str, data: bytes, recorded: str | None) -> None:
    """Refuse to unpickle ``data`` unless the key itself vouches for these very bytes.

    Unpickling runs whatever the pickle names, so a pickle gets no benefit of the
    doubt: the version's signature is checked again, and the HMAC recorded for the
    model at registration must be the signing key's over ``data``. Without a key
    (lost, or never read) nothing verifies, so no pickle is ever loaded.

    Raises:
        IntegrityError: the signature or the model's own HMAC does not verify with an accepted key.
    """
    folder = layout.version_dir(repo, name, version)
    problem = _signature_problem(repo, name, version)
    if problem is not None:
        raise IntegrityError(f"Refusing to unpickle {folder / layout.JOBLIB_FILE}: {problem[0]} is {problem[1]}. "
                             "Roll back with `lowops rollback` or retrain; do not use this version.")
    signer = json.loads((folder / layout.SIGNATURE_FILE).read_text(encoding="utf-8")).get("key")
    if not keys.of(repo).valid(signer, recorded, data):
        raise IntegrityError(f"Refusing to unpickle {folder / layout.JOBLIB_FILE}: the hmac_sha256 its "
                             f"{layout.CARD_FILE} records is not the key's over the file, so someone without the "
                             "key made it. Roll back with `lowops rollback` or retrain; do not use this version.")


def load_live(repo: Path, name: str, warn: Warn | None = None, *,
              allowed_modules: Iterable[str], pickles: bool) -> tuple[Any, ModelCard, str]:
    """The live model, verified and loaded, with its card and slot (``allowed_modules``, ``pickles``: see
    ``load_model``).

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
    model, card = load_model(repo, name, version, warn=warn, allowed_modules=allowed_modules,
                             pickles=pickles)
    return model, card, str(state["live"])
