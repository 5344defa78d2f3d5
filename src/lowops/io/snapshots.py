"""Versioned data: ``data/<window>/<kind>-<digest>/`` holding a Parquet snapshot and its manifest.

The version id derives from the content, so extracting unchanged data again
finds the version already there and writes nothing. A version directory is
built under a temporary name and renamed into place once its manifest (the
last file written) is complete.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowops.errors import IntegrityError
from lowops.io.files import TMP_PREFIX, read_json, sha256_bytes, sha256_file, staged_dir, write_bytes, write_json

if TYPE_CHECKING:
    import pandas as pd

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
        return self.path / self.manifest["file"]

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])


def parquet_bytes(frame: pd.DataFrame, row_group_rows: int) -> bytes:
    """Deterministic Parquet bytes: same content, same library versions, same bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=max(row_group_rows, 1))
    return buffer.getvalue()


def write_snapshot(repo: Path, window: str, kind: str, frame: pd.DataFrame, *,
                   row_group_rows: int, provenance: dict[str, Any]) -> Snapshot:
    """Store ``frame`` as a data version of ``window`` unless identical content exists.

    Args:
        repo: the repository root.
        window: the window label.
        kind: ``features`` or ``labels``.
        frame: the rows, already sorted by the entity key.
        row_group_rows: Parquet row-group size (scoring reads one group at a time).
        provenance: SQL digests, bound parameters, masked source URL for the manifest.

    Returns:
        The snapshot, with ``created`` false when it already existed.
    """
    assert kind in KINDS
    data = parquet_bytes(frame, row_group_rows)
    digest = sha256_bytes(data)
    version = f"{kind}-{digest[:12]}"
    final = repo / "data" / window / version
    if final.exists():
        return Snapshot(window, version, final, read_manifest(final), created=False)
    manifest = {
        "version": version,
        "window": window,
        "kind": kind,
        "file": f"{kind}.parquet",
        "sha256": digest,
        "bytes": len(data),
        "rows": int(len(frame)),
        "schema": [{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()],
        "extracted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        **provenance,
    }
    with staged_dir(final) as stage:
        write_bytes(stage / manifest["file"], data)
        write_json(stage / "manifest.json", manifest)  # last: the version's completion mark
    return Snapshot(window, version, final, manifest, created=True)


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise IntegrityError(f"Data version {path} has no manifest.json; run `lowops verify`.")
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict) or "file" not in manifest or "sha256" not in manifest:
        raise IntegrityError(f"{manifest_path} is not a valid manifest; run `lowops verify`.")
    return manifest


def versions(repo: Path, window: str, kind: str) -> list[Snapshot]:
    """Every complete data version of a window, oldest first."""
    base = repo / "data" / window
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


def latest(repo: Path, window: str, kind: str) -> Snapshot | None:
    """The most recently extracted version of a window's data, if any."""
    found = versions(repo, window, kind)
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
    import pyarrow.parquet as pq

    verify_snapshot(snapshot)
    return pq.read_table(snapshot.file, columns=columns).to_pandas()
