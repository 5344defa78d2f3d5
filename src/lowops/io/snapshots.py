"""Versioned data: ``data/<window>/<kind>-<digest>/`` holding a Parquet snapshot and its manifest.

The version id derives from the content and from the data's *definition*: what
made it besides the window (the model it is extracted for, the SQL files' hashes,
the marts and their order, the key; see ``stages.extract.definition``). Extracting
unchanged data again with the same definition finds the version already there
and writes nothing; the same rows from another SQL file, another list of marts
or for another model are another version, whose manifest says what it came
from. A version directory is built under a temporary name and renamed into
place once its manifest (the last file written) is complete.

Chunks arrive as Arrow tables and are written and digested as they are
(:mod:`lowops.io.content_digest`; the manifest names the digest's scheme). A
version an older lowops stored under its pandas digest is recognised by its
rows: when today's rows are not stored under today's digest, a version of the
same definition and row count that names no scheme is read and digested the
new way, and if it holds these rows, it is the version found (nothing written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowops import faults
from lowops.errors import IntegrityError
from lowops.io import layout
from lowops.io.content_digest import SCHEME, SCHEME_KEY, ContentDigest, scheme_of
from lowops.io.files import (
    DIR_MODE,
    TMP_PREFIX,
    _write_error,
    fsync_dir,
    make_dir,
    read_json,
    sha256_file,
    write_json,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

KINDS = ("features", "labels")
_VERSION = re.compile(r"^(features|labels)-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Snapshot:
    """One data version of one window."""

    window: str
    version: str
    path: Path
    manifest: dict[str, Any]
    created: bool  # False when identical content was already there

    @property
    def file(self) -> Path:
        return self.path / str(self.manifest["file"])

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])


def parquet_bytes(frame: pd.DataFrame, row_group_rows: int) -> bytes:
    """Deterministic Parquet bytes of a frame: same content and library versions, same bytes."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=max(row_group_rows, 1))
    return buffer.getvalue()


def definition_digest(definition: dict[str, Any]) -> str:
    """The sha256 of a data definition (canonical JSON: the same definition, the same digest)."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def changes(manifest: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    """How the definition a version's manifest records differs from ``now``, in words."""
    old = manifest.get("definition")
    if not isinstance(old, Mapping):
        return "its manifest records no definition: an older lowops extracted it"
    before = {str(n): str(h) for n, h in old.get("marts", [])}
    after = {str(n): str(h) for n, h in now.get("marts", [])}
    said = [f"mart '{k}' {'SQL changed' if k in after else 'removed'}" for k in before if before[k] != after.get(k)]
    said += [f"mart '{k}' added" for k in after if k not in before] + [
        f"{k} {old.get(k)!r} -> {now.get(k)!r}" for k in sorted(now) if k != "marts" and old.get(k) != now.get(k)]
    return "; ".join(said) or "its definition differs"


class SnapshotWriter:
    """Writes a data version chunk by chunk, so memory is bounded by the chunk size.

    Chunks go to a Parquet file (one row group each) in a staging directory;
    :meth:`commit` names the version after the content digest and renames the
    directory into place, or discards it if that version is already stored.
    """

    def __init__(self, repo: Path, window: str, kind: str, provenance: dict[str, Any],
                 definition: dict[str, Any]) -> None:
        assert kind in KINDS and isinstance(definition.get("model"), str), "a definition names its model"
        self.repo, self.window, self.kind, self.provenance = repo, window, kind, provenance
        self.definition, self.model = definition, str(definition["model"])
        self.base = layout.window_data(repo, window)
        self._stage: Path | None = None
        self._writer: Any = None
        self._schema: Any = None
        self._digest: ContentDigest | None = None
        self.rows = 0
        self._columns: list[dict[str, str]] = []

    def _open(self, table: pa.Table, frame: pd.DataFrame | None) -> None:
        import pyarrow.parquet as pq

        make_dir(self.base)
        try:
            self._stage = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + self.kind + ".", dir=self.base))
            os.chmod(self._stage, DIR_MODE)
        except OSError as exc:
            raise _write_error(self.base, exc) from exc
        self._schema = table.schema
        # The dtypes a reader of the snapshot gets (for a frame, its own).
        dtypes = (frame if frame is not None else table.schema.empty_table().to_pandas()).dtypes
        self._columns = [{"name": str(c), "dtype": str(t)} for c, t in dtypes.items()]
        self._digest = ContentDigest(self._schema)
        self._writer = pq.ParquetWriter(self._stage / layout.snapshot_file(self.kind), self._schema, compression="zstd")

    def write(self, chunk: pa.Table | pd.DataFrame) -> pa.Table | None:
        """Append one chunk, an Arrow table or a DataFrame (its columns and types must match the first
        chunk's); return it as the Arrow table written (None for an empty chunk).

        Raises:
            SchemaDrift: a chunk's columns cannot be cast to the first chunk's types.
        """
        import pyarrow as pa

        frame = None if isinstance(chunk, pa.Table) else chunk
        table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
        if self._writer is None:
            self._open(table, frame)
        if not table.num_rows:
            return None
        if not table.schema.equals(self._schema, check_metadata=False):
            # e.g. a column typed from NULLs alone in the first chunk
            try:
                table = table.select(self._schema.names).cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, KeyError, ValueError) as exc:
                raise SchemaDrift(str(exc)) from None
        assert self._digest is not None
        self._digest.update(table)
        try:
            self._writer.write_table(table)
        except OSError as exc:
            raise _write_error(self._stage or self.base, exc) from exc
        self.rows += table.num_rows
        return table

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - already failing; the directory goes anyway
                pass
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.base.rmdir()  # a window directory this writer created stays only if it holds something
        self._writer = self._stage = None

    def commit(self) -> Snapshot:
        """Make the version visible (or find it already stored) and return it."""
        assert self._writer is not None and self._stage is not None, "write() at least one chunk first"
        self._writer.close()
        self._writer = None
        assert self._digest is not None
        content = self._digest.hexdigest()
        defined = definition_digest(self.definition)
        version = f"{self.kind}-{hashlib.sha256((defined + content).encode()).hexdigest()[:12]}"
        final = self.base / version
        found = final if final.exists() else self._stored_by_older(defined, content)
        if found is not None:
            self.abort()
            _point(self.repo, self.window, self.kind, self.model, found.name)
            return Snapshot(self.window, found.name, found, read_manifest(found), created=False)
        data_file = self._stage / layout.snapshot_file(self.kind)
        manifest = {
            "version": version,
            "window": self.window,
            "kind": self.kind,
            "file": data_file.name,
            "sha256": sha256_file(data_file),
            "content_sha256": content,
            SCHEME_KEY: SCHEME,
            "model": self.model,
            "definition": self.definition,
            "definition_sha256": defined,
            "bytes": data_file.stat().st_size,
            "rows": int(self.rows),
            "schema": self._columns,
            "extracted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **self.provenance,
        }
        stage = self._stage
        try:
            write_json(stage / layout.MANIFEST_FILE, manifest)  # last: the version's completion mark
            fsync_dir(stage)
            faults.checkpoint(f"stage:{version}")
            if final.exists():
                raise IntegrityError(f"Refusing to overwrite {final}: versions are immutable.")
            os.rename(stage, final)
            fsync_dir(self.base)
        except OSError as exc:
            self.abort()
            raise _write_error(final, exc) from exc
        except BaseException:
            self.abort()
            raise
        self._stage = None
        _point(self.repo, self.window, self.kind, self.model, version)
        return Snapshot(self.window, version, final, manifest, created=True)


    def _stored_by_older(self, defined: str, content: str) -> Path | None:
        """A version of this definition that an older lowops stored under another digest scheme, holding
        these very rows: its content digested the way this writer digests (read once, not rewritten)."""
        assert self._schema is not None
        for snap in reversed(versions(self.repo, self.window, self.kind)):
            manifest = snap.manifest
            if (scheme_of(manifest) != SCHEME and manifest.get("definition_sha256") == defined
                    and manifest.get("model") == self.model and snap.rows == self.rows
                    and _digest_as(snap, self._schema) == content):
                return snap.path
        return None


def _digest_as(snap: Snapshot, schema: pa.Schema) -> str | None:
    """The ``arrow-columns-v1`` digest of a stored version's rows cast to ``schema``; None if they cannot be."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        verify_snapshot(snap)
        parquet = pq.ParquetFile(snap.file)
        if parquet.schema_arrow.names != schema.names:
            return None
        digest = ContentDigest(schema)
        for batch in parquet.iter_batches(batch_size=65_536):
            digest.update(pa.Table.from_batches([batch]).cast(schema))
    except (IntegrityError, OSError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    return digest.hexdigest()


def _point(repo: Path, window: str, kind: str, model: str, version: str) -> None:
    # The latest extract wins even when it found its content already stored
    # (data fixed back to an earlier state), so the pointer is rewritten each time.
    write_json(layout.data_pointer(repo, window, kind, model), {"version": version}, overwrite=True)


class SchemaDrift(Exception):
    """Chunks of one extract disagree on column types (the caller re-reads in one piece)."""


def write_snapshot(repo: Path, window: str, kind: str, frame: pd.DataFrame | pa.Table, *,
                   row_group_rows: int, provenance: dict[str, Any], definition: dict[str, Any]) -> Snapshot:
    """Store a whole in-memory frame or Arrow table as a data version (row groups of ``row_group_rows``)."""
    import pyarrow as pa

    writer = SnapshotWriter(repo, window, kind, provenance, definition)
    try:
        step = max(row_group_rows, 1)
        for start in range(0, max(len(frame), 1), step):
            writer.write(frame.slice(start, step) if isinstance(frame, pa.Table) else frame.iloc[start:start + step])
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / layout.MANIFEST_FILE
    if not manifest_path.is_file():
        raise IntegrityError(f"Data version {path} has no {layout.MANIFEST_FILE}; run `lowops verify`.")
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or "file" not in manifest or "sha256" not in manifest:
        raise IntegrityError(f"{manifest_path} is not a valid manifest; run `lowops verify`.")
    return manifest


def versions(repo: Path, window: str, kind: str) -> list[Snapshot]:
    """Every complete data version of a window, oldest first."""
    base = layout.window_data(repo, window)
    if not base.is_dir():
        return []
    found = []
    for path in base.iterdir():
        if path.name.startswith(TMP_PREFIX) or not _VERSION.match(path.name):
            continue
        if not path.name.startswith(kind + "-"):
            continue
        found.append(Snapshot(window, path.name, path, read_manifest(path), created=False))
    return sorted(found, key=lambda s: (s.manifest.get("extracted_at", ""), s.version))


def find(repo: Path, window: str, kind: str, version: str) -> Snapshot | None:
    """One named data version of a window, if it is stored."""
    return next((s for s in versions(repo, window, kind) if s.version == version), None)


def pointed(repo: Path, window: str, pointer: Path) -> Snapshot:
    """The data version a latest-extract pointer names.

    Raises:
        IntegrityError: it names no complete data version.
    """
    base = layout.window_data(repo, window)
    target = read_json(pointer)
    version = target.get("version") if isinstance(target, dict) else None
    if not isinstance(version, str) or not _VERSION.match(version) or not (base / version).is_dir():
        raise IntegrityError(f"{pointer} names {version!r}, which is not a complete data version; "
                             "run `lowops verify`.")
    return Snapshot(window, version, base / version, read_manifest(base / version), created=False)


def latest(repo: Path, window: str, kind: str, model: str) -> Snapshot | None:
    """The version the model's most recent extract of a window produced or found, if any.

    Whether it was made from today's SQL is the caller's question (``stages.extract.stored``).
    """
    pointer = layout.data_pointer(repo, window, kind, model)
    if pointer.is_file():
        return pointed(repo, window, pointer)
    found = [s for s in versions(repo, window, kind) if s.manifest.get("model") == model]
    return found[-1] if found else None


def verify_snapshot(snapshot: Snapshot) -> None:
    """Check the Parquet file against the manifest's digest.

    Raises:
        IntegrityError: the file is missing or its digest differs.
    """
    if not snapshot.file.is_file():
        raise IntegrityError(f"{snapshot.file} is missing; its manifest lists it.")
    actual = sha256_file(snapshot.file)
    if actual != snapshot.manifest["sha256"]:
        raise IntegrityError(
            f"{snapshot.file} does not match its manifest (sha256 {actual[:12]}… ≠ "
            f"{snapshot.manifest['sha256'][:12]}…); the data version was altered."
        )


def load(snapshot: Snapshot, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a snapshot after checking its digest."""
    frame: pd.DataFrame = load_table(snapshot, columns).to_pandas()
    return frame


def load_table(snapshot: Snapshot, columns: list[str] | None = None) -> pa.Table:
    """Read a snapshot as an Arrow table after checking its digest."""
    import pyarrow.parquet as pq

    verify_snapshot(snapshot)
    return pq.read_table(snapshot.file, columns=columns)
