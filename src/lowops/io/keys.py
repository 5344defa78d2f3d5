"""The repository's integrity key: where it lives, how it is made, which keys a check accepts.

A digest beside a file proves nothing against someone who can write the
registry: they can replace both. So every project has a key outside its
repository (``lowops init`` makes it, 0600, in the runner's configuration
directory ``${XDG_CONFIG_HOME:-~/.config}/lowops/keys/<project>.key``), and
every model version and audit line carries an HMAC made with it. Whoever can
write ``repo/`` but not read the key cannot make lowops trust a file of theirs.

``integrity.hmac_key_file`` or ``integrity.hmac_key_env`` name another key (a
team's shared one, say); ``integrity.previous_key_files`` lists keys that still
verify what they signed after a rotation, while new versions are signed with
the current key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lowops import secrets
from lowops.errors import ConfigError, IntegrityError

KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A short public name of a key (the start of its sha256): which key signed a file."""
    return hashlib.sha256(key).hexdigest()[:16]


def mac(key: bytes, data: bytes) -> str:
    """The HMAC-SHA256 of ``data`` under ``key`` (hex)."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keys:
    """The key that signs, and every key a check accepts (by id)."""

    signing: bytes | None
    accepted: dict[str, bytes] = field(default_factory=dict)
    where: str = "no key"  # where the signing key is (or should be), for messages

    def sign(self, data: bytes) -> tuple[str, str]:
        """``(key id, HMAC)`` of ``data`` with the signing key.

        Raises:
            IntegrityError: there is no signing key.
        """
        if self.signing is None:
            raise IntegrityError(f"There is no integrity key ({self.where}), so lowops cannot sign "
                                 "what it writes; restore the key, or create a project with `lowops init`.")
        return key_id(self.signing), mac(self.signing, data)

    def valid(self, signer: object, recorded: object, data: bytes) -> bool:
        """Whether ``recorded`` is the HMAC of ``data`` under the accepted key named ``signer``."""
        key = self.accepted.get(signer) if isinstance(signer, str) else None
        return key is not None and isinstance(recorded, str) and hmac.compare_digest(recorded, mac(key, data))


def config_home() -> Path:
    """The runner's configuration directory (XDG: ``$XDG_CONFIG_HOME``, else ``~/.config``)."""
    configured = os.environ.get("XDG_CONFIG_HOME")
    return Path(configured) if configured else Path.home() / ".config"


def default_file(project: str) -> Path:
    """Where a project's key lives unless the config says otherwise."""
    return config_home() / "lowops" / "keys" / f"{project}.key"


def create(path: Path) -> bool:
    """Make a new random key at ``path`` (0600, its directories 0700) unless one is there; whether it did.

    Raises:
        IntegrityError: the key cannot be written there.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise IntegrityError(f"Cannot create the integrity key {path}: {exc.strerror}.") from None
    try:
        os.write(fd, os.urandom(KEY_BYTES).hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def read_file(path: Path, repo: Path, key: str) -> bytes:
    """A key file's key, once it is shown private to this user and outside the repository.

    Raises:
        ConfigError: the file does not exist, or is empty.
        IntegrityError: the file is inside the repository, not owned by this user,
            or readable or writable by group or others.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{key} {path} does not exist; create it (umask 077; head -c 32 /dev/urandom | xxd -p "
                          "> FILE) outside the repository, or restore it.") from None
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
    value = path.read_bytes().strip()
    if not value:
        raise ConfigError(f"{key} {path} is empty.")
    return value


def load(key_file: str | None, key_env: str | None, previous: tuple[str, ...], *, project: str, root: Path,
         repo: Path) -> Keys:
    """The project's keys: the one configured (a file or a variable), else its default file.

    A default file that does not exist gives no signing key (commands that sign say so).

    Raises:
        ConfigError: a configured key is missing or empty.
        IntegrityError: a key file is not private to this user or lies in the repository.
    """
    def resolve(name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else root / path

    signing: bytes | None
    if key_env:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(f"integrity.hmac_key_env names {key_env}, which is not set (or empty); export it "
                              "in the runner's environment or remove the key from the config.")
        secrets.register(value)
        signing, where = value.encode("utf-8"), f"${key_env}"
    elif key_file:
        path = resolve(key_file)
        signing, where = read_file(path, repo, "integrity.hmac_key_file"), str(path)
    else:
        path = default_file(project)
        signing = read_file(path, repo, "The integrity key") if path.exists() else None
        where = str(path) if signing is not None else f"{path} does not exist"
    accepted = {key_id(k): k for k in (read_file(resolve(p), repo, "integrity.previous_key_files")
                                       for p in previous)}
    if signing is not None:
        accepted[key_id(signing)] = signing
    return Keys(signing, accepted, where)


# The keys of each repository a command opened (see ``use``).
_LOADERS: dict[Path, Callable[[], Keys]] = {}


def use(repo: Path, loader: Callable[[], Keys]) -> None:
    """Sign and check ``repo``'s files with the keys ``loader`` returns (read on first use, once)."""
    cache: list[Keys] = []

    def once() -> Keys:
        if not cache:
            cache.append(loader())
        return cache[0]

    _LOADERS[Path(repo).resolve()] = once


def of(repo: Path) -> Keys:
    """The keys of ``repo`` (none when no command opened it: nothing signs, nothing verifies)."""
    loader = _LOADERS.get(Path(repo).resolve())
    return loader() if loader is not None else Keys(None, {}, "none was opened for this repository")
