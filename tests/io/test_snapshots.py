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


DEFINITION = {"model": "churn", "entity_key": "customer_id", "marts": [["profile", "ab" * 32]]}


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
                                    provenance=PROVENANCE, definition=DEFINITION)
    assert snap.created
    data = snap.file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # content-addressed: the id is the digest of the rows and their definition; the manifest also pins the bytes
    defined = hashlib.sha256(json.dumps(DEFINITION, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert snap.version == "features-" + hashlib.sha256(
        (defined + manifest_of(snap)["content_sha256"]).encode()).hexdigest()[:12]
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
    assert (manifest["model"], manifest["definition"], manifest["definition_sha256"]) == ("churn", DEFINITION, defined)
    assert (manifest["window"], manifest["kind"], manifest["file"], manifest["version"]) == (
        "2025-03", "features", "features.parquet", snap.version)
    pd.testing.assert_frame_equal(snapshots.load(snap), frame(), check_dtype=False)


def test_same_rows_chunked_differently_are_the_same_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=7,
                                      provenance=PROVENANCE, definition=DEFINITION)
    assert (second.version, second.created) == (first.version, False)
    # one version, and the pointer naming it as the window's latest extract
    assert sorted(p.name for p in (tmp_path / "data" / "2025-03").iterdir()) == [
        first.version, "features.churn.latest.json"]
    assert snapshots.latest(tmp_path, "2025-03", "features", "churn").version == first.version


def test_same_frame_twice_is_the_same_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    before = files(tmp_path)
    manifest_bytes = (first.path / "manifest.json").read_bytes()
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                      provenance={**PROVENANCE, "source": "elsewhere"}, definition=DEFINITION)
    assert (first.created, second.created) == (True, False)
    assert second.version == first.version
    assert second.manifest == first.manifest
    assert files(tmp_path) == before
    assert (first.path / "manifest.json").read_bytes() == manifest_bytes


def test_different_content_is_a_new_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    changed = frame()
    changed.loc[0, "data_gb"] = 99.0
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", changed, row_group_rows=20,
                                      provenance=PROVENANCE, definition=DEFINITION)
    assert second.created and second.version != first.version
    assert [s.version for s in snapshots.versions(tmp_path, "2025-03", "features")] == [
        first.version, second.version]
    assert snapshots.latest(tmp_path, "2025-03", "features", "churn").version == second.version
    assert snapshots.latest(tmp_path, "2025-03", "labels", "churn") is None
    assert snapshots.latest(tmp_path, "2025-04", "features", "churn") is None


def test_altered_snapshot_is_refused(tmp_path: Path) -> None:
    snap = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                    provenance=PROVENANCE, definition=DEFINITION)
    flip(snap.file, 100)
    with pytest.raises(IntegrityError, match=r"does not match its manifest .*the data version was altered"):
        snapshots.load(snap)
    snap.file.unlink()
    with pytest.raises(IntegrityError, match=r"is missing; its manifest lists it"):
        snapshots.verify_snapshot(snap)


def test_version_without_manifest_is_an_integrity_error(tmp_path: Path) -> None:
    snap = snapshots.write_snapshot(tmp_path, "2025-03", "labels", frame()[["customer_id"]], row_group_rows=20,
                                    provenance=PROVENANCE, definition=DEFINITION)
    (snap.path / "manifest.json").unlink()
    with pytest.raises(IntegrityError) as excinfo:
        snapshots.versions(tmp_path, "2025-03", "labels")
    assert str(excinfo.value) == f"Data version {snap.path} has no manifest.json; run `lowops verify`."


def test_same_rows_from_another_definition_or_model_are_another_version(tmp_path: Path) -> None:
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    edited = {**DEFINITION, "marts": [["profile", "cd" * 32]]}
    other_sql = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                         provenance=PROVENANCE, definition=edited)
    other_model = snapshots.write_snapshot(tmp_path, "2025-03", "features", frame(), row_group_rows=20,
                                           provenance=PROVENANCE, definition={**DEFINITION, "model": "upsell"})
    assert (first.created, other_sql.created, other_model.created) == (True, True, True)
    assert len({first.version, other_sql.version, other_model.version}) == 3
    # the same rows, each manifest saying what made them
    assert first.manifest["content_sha256"] == other_sql.manifest["content_sha256"] == \
        other_model.manifest["content_sha256"]
    assert (other_sql.manifest["definition"], other_model.manifest["model"]) == (edited, "upsell")
    # one latest-extract pointer per model: the second model's extract does not move the first's
    assert sorted(p.name for p in (tmp_path / "data" / "2025-03").glob("*.json")) == [
        "features.churn.latest.json", "features.upsell.latest.json"]
    assert snapshots.latest(tmp_path, "2025-03", "features", "churn").version == other_sql.version
    assert snapshots.latest(tmp_path, "2025-03", "features", "upsell").version == other_model.version
    assert snapshots.changes(first.manifest, edited) == "mart 'profile' SQL changed"
    assert snapshots.changes(first.manifest, {**DEFINITION, "marts": [["profile", "ab" * 32], ["usage", "ef" * 32]],
                                              "model": "upsell"}) == "mart 'usage' added; model 'churn' -> 'upsell'"
    assert snapshots.changes({"version": "features-0"}, DEFINITION) == (
        "its manifest records no definition: an older lowops extracted it")


def table(rows: int = 50, nan: float = float("nan")) -> Any:
    import pyarrow as pa

    return pa.table({
        "customer_id": pa.array(range(1, rows + 1), pa.int64()),
        "plan": pa.array([None if i % 7 == 0 else ["basic", "standard"][i % 2] for i in range(rows)], pa.string()),
        "visits": pa.array([None if i % 5 == 0 else i for i in range(rows)], pa.int64()),
        "data_gb": pa.array([nan if i % 11 == 0 else i / 3 for i in range(rows)], pa.float64()),
    })


def test_arrow_chunks_give_one_version_whatever_their_chunking(tmp_path: Path) -> None:
    import pyarrow as pa

    whole = table()
    first = snapshots.write_snapshot(tmp_path, "2025-03", "features", whole, row_group_rows=50,
                                     provenance=PROVENANCE, definition=DEFINITION)
    # the same rows as many small record batches, in row groups of another size
    rechunked = pa.Table.from_batches(whole.to_batches(max_chunksize=3))
    second = snapshots.write_snapshot(tmp_path, "2025-03", "features", rechunked, row_group_rows=7,
                                      provenance=PROVENANCE, definition=DEFINITION)
    assert (first.created, second.created, second.version) == (True, False, first.version)
    assert first.manifest["content_digest_scheme"] == "arrow-columns-v1"
    assert first.manifest["schema"] == [{"name": "customer_id", "dtype": "int64"},
                                        {"name": "plan", "dtype": str(whole.schema.empty_table().to_pandas()["plan"].dtype)},
                                        {"name": "visits", "dtype": "int64"}, {"name": "data_gb", "dtype": "float64"}]
    import pyarrow.parquet as pq

    stored = pq.read_table(first.file)  # the rows and types as extracted, no pandas in between
    assert stored.schema.equals(whole.schema)
    pd.testing.assert_frame_equal(stored.to_pandas(), whole.to_pandas())


def test_content_digest_sees_values_not_buffers() -> None:
    import numpy as np
    import pyarrow as pa

    from lowops.io.content_digest import table_digest

    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    # what a null's slot holds, and which NaN, are not the data
    one = pa.Array.from_buffers(pa.int64(), 3, [validity, pa.py_buffer(np.array([4, 0, 6]).tobytes())])
    other = pa.Array.from_buffers(pa.int64(), 3, [validity, pa.py_buffer(np.array([4, 99, 6]).tobytes())])
    nan = np.array([np.nan, 1.0, 2.0])
    payload = nan.copy()
    payload.view(np.uint64)[0] |= 1  # another NaN bit pattern
    assert table_digest(pa.table({"a": one, "f": nan})) == table_digest(pa.table({"a": other, "f": payload}))
    # a value, a null, the order, a name or a type changed: another digest
    base = pa.table({"a": [1, 2, None], "t": ["x", "yz", None]})
    digests = {table_digest(t) for t in (
        base, pa.table({"a": [1, 3, None], "t": ["x", "yz", None]}), pa.table({"a": [1, None, 2], "t": ["x", "yz", None]}),
        pa.table({"a": [1, 2, None], "t": ["xy", "z", None]}), pa.table({"a": [1, 2, None], "t": ["x", "yz", ""]}),
        pa.table({"b": [1, 2, None], "t": ["x", "yz", None]}),
        pa.table({"a": pa.array([1, 2, None], pa.int32()), "t": ["x", "yz", None]}))}
    assert len(digests) == 7


def as_older_lowops(snap: snapshots.Snapshot, repo: Path) -> snapshots.Snapshot:
    """The version as an older lowops stored it: a pandas-hash-v1 content digest, no scheme in the manifest."""
    import pyarrow.parquet as pq

    from lowops.io.content_digest import legacy_update

    manifest = manifest_of(snap)
    digest = hashlib.sha256(repr([(f.name, str(f.type)) for f in pq.read_schema(snap.file)]).encode())
    legacy_update(digest, pq.read_table(snap.file).to_pandas())
    del manifest["content_digest_scheme"]
    manifest["content_sha256"] = digest.hexdigest()
    manifest["version"] = "features-" + hashlib.sha256(
        (manifest["definition_sha256"] + digest.hexdigest()).encode()).hexdigest()[:12]
    (snap.path / "manifest.json").write_text(json.dumps(manifest))
    older = snap.path.rename(snap.path.with_name(manifest["version"]))
    (repo / "data" / "2025-03" / "features.churn.latest.json").write_text(json.dumps({"version": older.name}))
    return snapshots.find(repo, "2025-03", "features", older.name)


def test_a_version_an_older_lowops_stored_is_found_again_by_its_rows(tmp_path: Path) -> None:
    # The older lowops went through pandas: an integer column with NULLs was stored as float
    # (and a NaN as NULL, so a window holding NaN is a new version: the rows now keep it).
    older_frame = table(nan=None).to_pandas()
    assert older_frame["visits"].dtype == "float64"
    older = as_older_lowops(snapshots.write_snapshot(tmp_path, "2025-03", "features", older_frame,
                                                     row_group_rows=20, provenance=PROVENANCE,
                                                     definition=DEFINITION), tmp_path)
    assert "content_digest_scheme" not in older.manifest
    before = files(tmp_path)
    again = snapshots.write_snapshot(tmp_path, "2025-03", "features", table(nan=None), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    assert (again.created, again.version) == (False, older.version)  # unchanged: no second version
    assert files(tmp_path) == before
    assert snapshots.latest(tmp_path, "2025-03", "features", "churn").version == older.version
    # other rows are another version, digested the new way
    edited = table(nan=None).to_pandas()
    edited.loc[1, "data_gb"] = 7.0
    new = snapshots.write_snapshot(tmp_path, "2025-03", "features", edited, row_group_rows=20,
                                   provenance=PROVENANCE, definition=DEFINITION)
    assert new.created and new.version != older.version
    assert new.manifest["content_digest_scheme"] == "arrow-columns-v1"
    # an altered older version is never taken for today's rows
    flip(older.file, 100)
    third = snapshots.write_snapshot(tmp_path, "2025-03", "features", table(nan=None), row_group_rows=20,
                                     provenance=PROVENANCE, definition=DEFINITION)
    assert third.created and third.version not in (older.version, new.version)
