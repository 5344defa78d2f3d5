"""Removing what ``lowops gc`` decided to remove: one rename into the trash first, deleting after.

A model version or a data version is complete only under its own name
(``registry.list_versions``, ``snapshots.versions``), so renaming it into
``.tmp-gc-<run>/`` inside the repository (one ``rename``, atomic on one
filesystem) makes it gone as a whole: no reader ever sees a version with half
its files. Deleting the files comes after. A gc killed in between leaves only
the trash directory, which the next gc deletes (and ``lowops verify`` lists
as a leftover, ``--repair`` removes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lowops import faults
from lowops.io import layout
from lowops.io.files import _write_error, check_no_link, fsync_dir, make_dir


class Trash:
    """The trash of one gc run: what it removes is renamed here, then deleted with :meth:`empty`."""

    def __init__(self, repo: Path, run_id: str) -> None:
        self.repo = repo
        self.root = layout.trash_dir(repo, run_id)
        self._count = 0

    def discard(self, path: Path) -> None:
        """Rename ``path`` (a file or directory inside the repository) into the trash, in one rename.

        Raises:
            IntegrityError: ``path`` or a directory on the way is a symbolic link (nothing is renamed).
            WriteError: the filesystem refused.
        """
        check_no_link(path)
        make_dir(self.root)
        self._count += 1
        target = self.root / f"{self._count:05d}-{path.name}"
        try:
            os.rename(path, target)
            fsync_dir(path.parent)
        except OSError as exc:
            raise _write_error(path, exc) from exc
        faults.checkpoint(f"gc:{path.name}")

    def empty(self) -> None:
        """Delete everything renamed into the trash, and the trash."""
        delete(self.root)


def delete(path: Path) -> None:
    """Delete a trash directory (links inside it are removed, never followed).

    Raises:
        WriteError: the filesystem refused.
    """
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc


def size(path: Path) -> int:
    """The bytes of a file, or of every file below a directory (links are not followed)."""
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total
