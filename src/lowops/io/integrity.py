"""Model integrity beyond the digest: who owns the path to a model, and the libraries it was built with.

The keyed digests are :mod:`lowops.io.keys`'; here, what they cannot prove: that
no one but the runner can replace a directory on the way to a model (owner and
mode of the whole path from the repository root down), and that a pickled
scikit-learn model is used with the library versions it was built with (another
major version is refused, another minor version is loaded with a warning).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from lowops.errors import IntegrityError

# Libraries whose version decides whether a pickled pipeline still means the same thing.
CHECKED_LIBRARIES = ("scikit-learn", "numpy")

def _release(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except ValueError:
        return None


def stranger(path: Path, *, follow: bool) -> tuple[int | None, int | None] | None:
    """``(another user's uid or None, the mode bits when group or others may write, or None)``, or None when
    ``path`` is the runner's alone (or absent): the one rule for who else could have changed it."""
    try:
        info = path.stat(follow_symlinks=follow)
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    owner = info.st_uid if info.st_uid != os.geteuid() else None
    shared = mode if mode & 0o022 else None
    return None if owner is None and shared is None else (owner, shared)


def chain(repo: Path, path: Path) -> list[Path]:
    """``repo`` and every path from it down to ``path`` (which lies inside it)."""
    root = Path(os.path.abspath(repo))
    target = Path(os.path.abspath(path))
    found = [root]
    for part in target.relative_to(root).parts:
        found.append(found[-1] / part)
    return found


def foreign(path: Path, *, follow: bool) -> str | None:
    """Why someone other than the user running lowops could have changed ``path``, or None."""
    found = stranger(path, follow=follow)
    if found is None:
        return None
    owner, mode = found
    if owner is not None:
        return (f"{path} is owned by uid {owner}, not by the user running lowops (uid {os.geteuid()}), "
                f"so its owner could have replaced the model; chown it (chown -R {os.geteuid()} {path})")
    return (f"{path} is writable by its group or others (mode {mode:04o}), so someone other than its owner "
            f"could have replaced the model; make it writable by its owner only: chmod go-w {path}")


def check_owned(repo: Path, paths: list[Path], what: str) -> None:
    """Refuse a model unless everything from the repository root down to each of ``paths`` is the runner's alone.

    A digest, even a keyed one, proves nothing about a directory someone else can
    rename or fill: a group member who can write ``repo/`` could move ``models/``
    aside and put her own in its place. The repository is written 0640/0750 (umask 027).

    Raises:
        IntegrityError: a path on the way is owned by another user, or writable by its group or others.
    """
    seen: set[Path] = set()
    for path in paths:
        for step in chain(repo, path):
            if step in seen:
                continue
            seen.add(step)
            problem = foreign(step, follow=step == Path(os.path.abspath(repo)))
            if problem is not None:
                raise IntegrityError(f"Refusing to load {what}: {problem}")


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
