"""A data version's content digest: what decides that a re-extract is unchanged.

The digest covers the column names and types, the values and their order, not
how the rows were chunked or encoded, so the same rows give the same data
version whatever ``compute.chunk_rows`` or the Parquet writer's version.

Two schemes, named in each manifest's ``content_digest_scheme``:

``arrow-columns-v1`` (:class:`ContentDigest`)
    One running sha256 per column and part, fed from the Arrow buffers as they
    are: for fixed-width values the value bytes (a null's slot zeroed, every NaN
    the same NaN), for text and binary each value's length and the value bytes,
    and every null's row number. Concatenating chunks concatenates what each
    part is fed, so chunking cannot change it; the parts' digests, the schema
    and the row count make the digest. No pandas, no Python object per cell.

``pandas-hash-v1`` (:func:`legacy_update`; a manifest without the key)
    What an older lowops recorded: ``pandas.util.hash_pandas_object`` of each
    chunk as a DataFrame, after the repr of the first chunk's Arrow schema.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

SCHEME = "arrow-columns-v1"
LEGACY = "pandas-hash-v1"
SCHEME_KEY = "content_digest_scheme"


def scheme_of(manifest: dict[str, Any]) -> str:
    """The scheme a manifest's ``content_sha256`` was computed with."""
    return str(manifest.get(SCHEME_KEY, LEGACY))


class _Column:
    """The running digests of one column: null positions, values (or lengths), and text bytes."""

    def __init__(self) -> None:
        self.nulls, self.values, self.data = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()

    def digest(self) -> bytes:
        return self.nulls.digest() + self.values.digest() + self.data.digest()


class ContentDigest:
    """The ``arrow-columns-v1`` digest of Arrow tables fed in order (see the module's docstring)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.fields = [(field.name, str(field.type)) for field in schema]
        self.columns = [_Column() for _ in schema]
        self.rows = 0

    def update(self, table: pa.Table) -> None:
        """Feed the next rows (the table has this digest's columns, in its order)."""
        for part, column in zip(self.columns, table.columns, strict=True):
            start = self.rows
            for chunk in column.chunks:
                _feed(part, chunk, start)
                start += len(chunk)
        self.rows += table.num_rows

    def hexdigest(self) -> str:
        top = hashlib.sha256(SCHEME.encode())
        top.update(repr((self.fields, self.rows)).encode())
        for part in self.columns:
            top.update(part.digest())
        return top.hexdigest()


def _feed(part: _Column, array: pa.Array, start: int) -> None:
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    nulls = array.null_count
    if nulls:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        part.nulls.update((np.flatnonzero(~valid) + start).astype("<i8").tobytes())
    if pa.types.is_null(kind) or not len(array):
        return
    if pa.types.is_boolean(kind):
        part.values.update(array.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
    elif (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
          or pa.types.is_large_binary(kind)):
        _feed_binary(part, array.fill_null(pa.scalar(b"" if "binary" in str(kind) else "", kind))
                     if nulls else array)
    elif _byte_width(kind):
        _feed_fixed(part, array, _byte_width(kind), pa.types.is_floating(kind))
    else:  # nested and other rare types: each value's repr, length-prefixed
        for value in array.to_pylist():
            text = repr(value).encode()
            part.data.update(len(text).to_bytes(8, "little") + text)


def _byte_width(kind: Any) -> int:
    try:
        bits = int(kind.bit_width)
    except ValueError:
        return 0
    return bits // 8 if bits % 8 == 0 and kind.num_fields == 0 else 0


def _feed_fixed(part: _Column, array: pa.Array, width: int, floating: bool) -> None:
    buffer = array.buffers()[1]
    assert buffer is not None
    raw = np.frombuffer(buffer, dtype=np.uint8)[array.offset * width:(array.offset + len(array)) * width]
    if floating:
        values = raw.view(f"<f{width}")
        if np.isnan(values).any():
            values = np.where(np.isnan(values), np.nan, values).astype(f"<f{width}")  # one NaN bit pattern
            raw = values.view(np.uint8)
    if array.null_count:
        rows = raw.reshape(len(array), width).copy()
        rows[~array.is_valid().to_numpy(zero_copy_only=False)] = 0  # a null's slot holds anything
        raw = rows.reshape(-1)
    part.values.update(np.ascontiguousarray(raw).data)


def _feed_binary(part: _Column, array: pa.Array) -> None:
    import pyarrow as pa

    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    _, offsets_buffer, data = array.buffers()
    assert offsets_buffer is not None
    offsets = np.frombuffer(offsets_buffer, dtype="<i8" if large else "<i4")[array.offset:array.offset + len(array) + 1]
    part.values.update(np.diff(offsets).astype("<i8").tobytes())
    if data is not None and offsets[-1] > offsets[0]:
        part.data.update(memoryview(data)[int(offsets[0]):int(offsets[-1])])


def legacy_update(digest: Any, frame: pd.DataFrame) -> None:
    """Feed a chunk's rows into a running ``pandas-hash-v1`` digest (older manifests' scheme)."""
    import pandas as pd

    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def table_digest(table: pa.Table) -> str:
    """The ``arrow-columns-v1`` digest of a whole table."""
    digest = ContentDigest(table.schema)
    digest.update(table)
    return digest.hexdigest()
