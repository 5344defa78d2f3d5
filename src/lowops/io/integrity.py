"""Model integrity beyond the digest: the optional HMAC key, and the libraries a model was built with.

A sha256 beside an artifact proves nothing against someone who can write the
registry: they can replace the file and its recorded digest. With a key kept
outside the repository (``integrity.hmac_key_file``, a 0600 file owned by the
runner, or ``integrity.hmac_key_env``), each model's bytes also carry an
HMAC-SHA256 recorded at registration; a version whose HMAC is missing or wrong
is refused before any of it is deserialised.

A pickled scikit-learn model is only safe to use with the library versions it
was built with: another major version is refused, another minor version is
loaded with a warning naming both.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from lowops import secrets
from lowops.errors import ConfigError, IntegrityError

# Libraries whose version decides whether a pickled pipeline still means the same thing.
CHECKED_LIBRARIES = ("scikit-learn", "numpy")

KeyLoader = Callable[[], "bytes | None"]


def read_key(key_file: str | None, key_env: str | None, *, root: Path, repo: Path) -> bytes | None:
    """The HMAC key the config names, or None when none is configured.

    Raises:
        ConfigError: the file or variable does not exist, or is empty.
        IntegrityError: the file is inside the repository, not owned by this user,
            or readable or writable by group or others.
    """
    if key_env:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(f"integrity.hmac_key_env names {key_env}, which is not set (or empty); export it "
                              "in the runner's environment or remove the key from the config.")
        secrets.register(value)
        return value.encode("utf-8")
    if not key_file:
        return None
    path = Path(key_file)
    path = path if path.is_absolute() else root / path
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"integrity.hmac_key_file {path} does not exist; create it (umask 077; "
                          "head -c 32 /dev/urandom > FILE) outside the repository.") from None
    except OSError as exc:
        raise IntegrityError(f"Cannot read the HMAC key {path}: {exc.strerror}.") from None
    if path.resolve().is_relative_to(repo.resolve()):
        raise IntegrityError(f"The HMAC key {path} lies inside the repository {repo}, where whoever can write "
                             "the registry can read it; move it outside (integrity.hmac_key_file).")
    if info.st_uid != os.geteuid():
        raise IntegrityError(f"The HMAC key {path} is owned by uid {info.st_uid}, not by the user running lowops "
                             f"(uid {os.geteuid()}); chown it.")
    if info.st_mode & 0o077:
        raise IntegrityError(f"The HMAC key {path} has mode {stat.S_IMODE(info.st_mode):04o}; it must be readable "
                             f"by its owner only: chmod 600 {path}.")
    key = path.read_bytes().strip()
    if not key:
        raise ConfigError(f"integrity.hmac_key_file {path} is empty.")
    return key


def loader(key_file: str | None, key_env: str | None, *, root: Path, repo: Path) -> KeyLoader:
    """A function reading the key on first use (commands that never touch a model never read it)."""
    cache: list[bytes | None] = []

    def load() -> bytes | None:
        if not cache:
            cache.append(read_key(key_file, key_env, root=root, repo=repo))
        return cache[0]

    return load


def sign(key: bytes, data: bytes) -> str:
    """The HMAC-SHA256 of ``data`` under ``key`` (hex)."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def check_hmac(key: bytes, data: bytes, recorded: str | None, path: Path) -> None:
    """Refuse bytes whose recorded HMAC is missing or wrong.

    Raises:
        IntegrityError: no HMAC recorded, or it does not match.
    """
    if not isinstance(recorded, str):
        raise IntegrityError(
            f"Refusing to load {path}: an HMAC key is configured but the version records no HMAC (it was "
            "registered without the key, or its HMAC was removed). Retrain it, or remove the key from the config.")
    if not hmac.compare_digest(recorded, sign(key, data)):
        raise IntegrityError(
            f"Refusing to load {path}: its HMAC does not match the one recorded at registration, so the file or "
            "its recorded digest was changed by someone without the key. Roll back with `lowops rollback` or "
            "retrain; do not use this file.")


def _release(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except ValueError:
        return None


def others_may_write(path: Path, *, follow: bool = True) -> int | None:
    """``path``'s permission bits when its group or others may write it, else None (also when it is absent)."""
    try:
        mode = stat.S_IMODE(path.stat(follow_symlinks=follow).st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & 0o022 else None


def check_not_shared(paths: list[Path], what: str) -> None:
    """Refuse a model whose file or directories others than their owner may write.

    A digest recorded beside the model proves nothing if anyone in the group can
    rewrite both; the repository is written 0640/0750 (umask 027).

    Raises:
        IntegrityError: one of ``paths`` is writable by its group or by others.
    """
    for path in paths:
        if (mode := others_may_write(path)) is not None:
            raise IntegrityError(
                f"Refusing to load {what}: {path} is writable by its group or others (mode "
                f"{mode:04o}), so someone other than its owner could have replaced the model; "
                f"make it writable by its owner only: chmod go-w {path}"
            )


def check_libraries(recorded: dict[str, str | None], what: str, warn: Callable[[str], None]) -> None:
    """Compare the library versions a model was built with (``recorded``) against the running ones.

    Raises:
        IntegrityError: another major version of a checked library is installed.
    """
    for package in CHECKED_LIBRARIES:
        built = recorded.get(package)
        if not isinstance(built, str):
            continue
        try:
            running = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
        old, new = _release(built), _release(running)
        if old is None or new is None or old == new:
            continue
        if old[0] != new[0]:
            raise IntegrityError(
                f"{what} was trained with {package} {built} but {package} {running} is installed (another "
                f"major version): refusing to load it. Retrain it here (lowops train) or install {package} {built}.")
        warn(f"{what} was trained with {package} {built} but {package} {running} is installed (another minor "
             f"version); its predictions may differ: retrain it here (lowops train) or install {package} {built}.")


def check_feature_names(model: Any, contract: list[str], what: str) -> None:
    """The fitted model's input columns must be the schema contract's (``contract``: its column names).

    Raises:
        IntegrityError: they differ (model.json does not describe this model).
    """
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None:
        return
    in_model = {str(name) for name in fitted}
    in_contract = set(contract)
    if in_model != in_contract:
        only_model = ", ".join(repr(n) for n in sorted(in_model - in_contract)) or "none"
        only_contract = ", ".join(repr(n) for n in sorted(in_contract - in_model)) or "none"
        raise IntegrityError(
            f"{what}: the model was fitted on features that differ from its schema contract in model.json (only "
            f"in the model: {only_model}; only in the contract: {only_contract}); the version is inconsistent: "
            "roll back (lowops rollback) or retrain.")
