"""lowops.io.snapshots: content-addressed data versions with their manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lowops.errors import IntegrityError
from lowops.io import snapshots


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


PROVENANCE = {
    "sql": {"profile": {"path": "sql/profile.sql", "sha256": "ab" * 32}},
    "params": {"window_start": "2025-03-01T00:00:00Z", "window_end": "2025-04-01T00:00:00Z"},
    "source": "sqlite:////srv/demo/store.sqlite",
}


def frame(rows: int = 50) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": range(1, rows + 1),
        "plan": ["basic", "standard"] * (rows // 2),
        "data_gb": [float(i) / 3 for i in range(rows)],
    })


def manifest_of(snap: snapshots.Snapshot) -> dict[str, Any]:
    return json.loads((snap.path / "manifest.json").read_text())


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_snapshot_manifest(tmp_path: Path) -> None:
    snap = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                    provenance=PROVENANCE)
    assert snap.created
    data = snap.file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # content-addressed: the id is the digest of the rows, the manifest also pins the file's bytes
    assert snap.version == f"features-{manifest_of(snap)['content_sha256'][:12]}"
    assert snap.path == tmp_path / "data" / "2025-03" / snap.version
    assert sorted(p.name for p in snap.path.iterdir()) == ["features.parquet", "manifest.json"]
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest == snap.manifest
    assert manifest["sha256"] == digest
    assert manifest["bytes"] == len(data)
    assert manifest["rows"] == 50 and snap.rows == 50
    assert manifest["schema"] == [{"name": "customer_id", "dtype": "int64"},
                                  {"name": "plan", "dtype": str(frame()["plan"].dtype)},
                                  {"name": "data_gb", "dtype": "float64"}]
    assert manifest["sql"] == PROVENANCE["sql"]
    assert manifest["params"] == PROVENANCE["params"]
    assert manifest["source"] == PROVENANCE["source"]
    assert manifest["extracted_at"].endswith("Z")
    assert (manifest["window"], manifest["kind"], manifest["file"], manifest["version"]) == (
        "2025-03", "features", "features.parquet", snap.version)
    pd.testing.assert_frame_equal(snapshots.load(snap), frame(), check_dtype=False)


def test_same_rows_chunked_differently_are_the_same_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE)
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=7,
                                      provenance=PROVENANCE)
    assert (second.version, second.created) == (first.version, False)
    # one version, and the pointer naming it as the window's latest extract
    assert sorted(p.name for p in (tmp_path / "data" / "2025-03").iterdir()) == [
        first.version, "features.latest.json"]
    assert snapshots.latest(tmp_path, "2025-03", "features").version == first.version


def test_same_frame_twice_is_the_same_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE)
    before = files(tmp_path)
    manifest_bytes = (first.path / "manifest.json").read_bytes()
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                      provenance={**PROVENANCE, "source": "elsewhere"})
    assert (first.created, second.created) == (True, False)
    assert second.version == first.version
    assert second.manifest == first.manifest
    assert files(tmp_path) == before
    assert (first.path / "manifest.json").read_bytes() == manifest_bytes


def test_different_content_is_a_new_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE)
    changed = frame()
    changed.loc[0, "data_gb"] = 99.0
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", changed, row_group_rows=20,
                                      provenance=PROVENANCE)
    assert second.created and second.version != first.version
    assert [s.version for s in snapshots.versions(tmp_path, "2025-03", "features")] == [
        first.version, second.version]
    assert snapshots.latest(tmp_path, "2025-03", "features").version == second.version
    assert snapshots.latest(tmp_path, "2025-03", "labels") is None
    assert snapshots.latest(tmp_path, "2025-04", "features") is None


def test_altered_snapshot_is_refused(tmp_path: Path) -> None:
    snap = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                    provenance=PROVENANCE)
    flip(snap.file, 100)
    with pytest.raises(IntegrityError, match=r"does not match its manifest .*the data version was altered"):
        snapshots.load(snap)
    snap.file.unlink()
    with pytest.raises(IntegrityError, match=r"is missing; its manifest lists it"):
        snapshots.verify_snapshot(snap)


def test_version_without_manifest_is_an_integrity_error(tmp_path: Path) -> None:
    snap = snapshots.write_snapshot(tmp_path, "2025-03", "labels", frame()[["customer_id"]], row_group_rows=20,
                                    provenance=PROVENANCE)
    (snap.path / "manifest.json").unlink()
    with pytest.raises(IntegrityError) as excinfo:
        snapshots.versions(tmp_path, "2025-03", "labels")
    assert str(excinfo.value) == f"Data version {snap.path} has no manifest.json; run `lowops verify`."
