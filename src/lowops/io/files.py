"""The one write path: every file lowops writes goes through here.

A file is written to a temporary sibling, flushed, fsynced and then moved into
place, and the directory is fsynced so the rename itself survives a power cut.
Readers therefore see the old file or the new file, never a mix. Temp files
carry the ``.tmp-`` prefix so ``lowops verify`` can recognise the leftovers of
an interrupted write.

Below a repository root named with :func:`confine`, no write goes through a
symbolic link: a link anywhere on the way (``repo/outputs`` pointing elsewhere,
``repo/.lock`` pointing at someone's file) is refused with an integrity error
before anything is created, truncated or written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from lowops import faults
from lowops.errors import IntegrityError, WriteError

TMP_PREFIX = ".tmp-"
# Readable by the owner's group, writable by the owner only (umask 027).
FILE_MODE = 0o640
DIR_MODE = 0o750

# The repository roots writes are confined to: as named (absolute) -> resolved.
_CONFINED: dict[Path, Path] = {}


def confine(root: Path) -> None:
    """From now on, refuse any write below ``root`` that a symbolic link would lead elsewhere.

    The root itself may be a link (a repository moved to a bigger disk); nothing inside it may.
    """
    given = Path(os.path.abspath(root))
    _CONFINED[given] = given.resolve()


def _below_root(path: Path) -> tuple[Path, Path] | None:
    for given, resolved in _CONFINED.items():
        for base in (given, resolved):
            if path == base or path.is_relative_to(base):
                return base, path.relative_to(base)
    return None


def check_no_link(path: Path) -> None:
    """Refuse ``path`` when it, or a directory between it and its repository root, is a symbolic link.

    Paths outside every confined root are not checked (a report written elsewhere, say).

    Raises:
        IntegrityError: a link was found; the message names it and where it leads.
    """
    path = Path(os.path.abspath(path))
    found = _below_root(path)
    if found is None:
        return
    current, rest = found
    for part in rest.parts:
        current = current / part
        if current.is_symlink():
            raise IntegrityError(
                f"Refusing to write {path}: {current} is a symbolic link (to {os.readlink(current)}), and lowops "
                "never writes through a link inside the repository. Remove the link (`lowops verify` lists "
                "them) and run again.")


def refuse_links(paths: list[Path]) -> None:
    """Refuse, before a command writes anything, when any of ``paths`` is a symbolic link (see ``check_no_link``).

    Raises:
        IntegrityError: one of them is a link.
    """
    for path in paths:
        if os.path.islink(path):
            check_no_link(path)


def make_dir(path: Path) -> None:
    """``mkdir -p`` inside the repository, refusing links on the way.

    Raises:
        IntegrityError: a link on the way.
        WriteError: the disk refused.
    """
    check_no_link(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(path, exc) from exc


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = {
        errno.ENOSPC: "free some disk space and run again",
        errno.EDQUOT: "raise the disk quota or free space and run again",
        errno.EFBIG: "the file size limit was reached; raise it (ulimit -f) and run again",
        errno.EACCES: "check the directory's owner and permissions",
        errno.EPERM: "check the directory's owner and permissions",
        errno.EROFS: "the filesystem is read-only; point the repository elsewhere",
    }.get(exc.errno or 0, "check the disk and permissions, then run again")
    return WriteError(f"Cannot write {path}: {reason} [errno {exc.errno}]; {hint}.")


@contextlib.contextmanager
def atomic_write(
    path: Path, *, binary: bool = True, overwrite: bool = False, encoding: str = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing and move it into place on success.

    Args:
        path: the final file.
        binary: open in binary mode (else text with ``encoding`` and ``\\n`` newlines).
        overwrite: replace an existing file (only pointers and indexes do this);
            otherwise an existing file is an error, since written artifacts are immutable.
        encoding: text encoding when ``binary`` is false.

    Yields:
        The open temporary file.

    Raises:
        WriteError: the disk refused the write (the temp file is removed).
        IntegrityError: ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    check_no_link(path)
    # Directories this write creates go again if it fails: a failed write leaves nothing.
    created = [] if path.parent.is_dir() else [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
        os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 would hide reports and logs from the team
    except OSError as exc:
        raise _write_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        mode = "wb" if binary else "w"
        kwargs: dict[str, Any] = {} if binary else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        faults.checkpoint(f"write:{path.name}")
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() refuses to replace an existing file, so a written artifact
            # can never be clobbered, even by a racing writer.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise IntegrityError(
                    f"Refusing to overwrite {path}: written files are immutable; "
                    "remove it by hand only if you know it is a leftover."
                ) from None
            os.unlink(tmp)
        fsync_dir(path.parent)
    except OSError as exc:
        _silent_unlink(tmp, created)
        raise _write_error(path, exc) from exc
    except BaseException:
        _silent_unlink(tmp, created)
        raise


def _silent_unlink(path: Path, created: Sequence[Path] = ()) -> None:
    """Remove ``path``, then the directories in ``created`` (deepest first) that are empty."""
    with contextlib.suppress(OSError):
        path.unlink()
    for directory in created:
        with contextlib.suppress(OSError):
            directory.rmdir()


def write_bytes(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, overwrite=overwrite) as handle:
        handle.write(data)


def write_text(path: Path, text: str, *, overwrite: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def dumps_json(obj: Any) -> str:
    """Stable, human-readable JSON: sorted keys so identical content gives identical bytes."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def write_json(path: Path, obj: Any, *, overwrite: bool = False) -> None:
    """Write ``obj`` as stable JSON to ``path`` atomically."""
    write_text(path, dumps_json(obj), overwrite=overwrite)


def read_json(path: Path) -> Any:
    """Read a JSON file, turning corruption into an IntegrityError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{path} is not valid JSON ({exc}); run `lowops verify`.") from exc


def open_no_link(path: Path, flags: int, mode: int = FILE_MODE) -> int:
    """``os.open`` that never follows a link, below the repository root or at the file itself.

    Raises:
        IntegrityError: ``path`` or a directory on the way is a link.
        OSError: as ``os.open``.
    """
    check_no_link(path)
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # planted between the check and the open
            check_no_link(path)
            raise IntegrityError(f"Refusing to write {path}: it is a symbolic link; remove it and run again.") from None
        raise


def append_line(path: Path, line: str) -> None:
    """Append one whole line to a log file with a single write() and fsync.

    Logs are append-only; one ``write`` of a line shorter than PIPE_BUF on an
    O_APPEND descriptor is never interleaved with another writer's line. A short
    write (a disk that fills up mid-line) is cut back, so no torn line remains
    for the next line to be glued to.

    Raises:
        IntegrityError: the file or a directory on the way is a link.
        WriteError: the disk refused, or took only part of the line.
    """
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    make_dir(path.parent)
    try:
        fd = open_no_link(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes of the line were written")
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise _write_error(path, exc) from exc
    finally:
        os.close(fd)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``final`` when complete.

    A version (data or model) is visible only once every file in it is written:
    readers never see a half-built version. On failure the staging directory is
    removed.

    Raises:
        IntegrityError: ``final`` already exists (versions are never overwritten).
        WriteError: the disk refused the write.
    """
    final = Path(final)
    check_no_link(final)
    if final.exists():
        raise IntegrityError(f"Refusing to overwrite {final}: versions are immutable.")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + final.name + ".", dir=final.parent))
        os.chmod(stage, DIR_MODE)
    except OSError as exc:
        raise _write_error(final, exc) from exc
    try:
        yield stage
        fsync_dir(stage)
        faults.checkpoint(f"stage:{final.name}")
        if final.exists():
            raise IntegrityError(f"Refusing to overwrite {final}: versions are immutable.")
        os.rename(stage, final)
        fsync_dir(final.parent)
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise _write_error(final, exc) from exc
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
