"""Joining feature marts chunk by chunk: a sorted merge join on the entity key, in Arrow.

When every mart's SQL returns its rows ordered by the key (the templates end
with ``ORDER BY``), the marts can be joined as streams: memory holds one chunk
of the first mart and the matching rows of the others, never the window. If a
mart turns out not to be sorted (or holds an empty key, which has no place in
the order), :class:`NotSorted` tells the caller to fall back to an in-memory
join, which sorts each mart and joins it here in one chunk (:func:`sort_mart`).

Sorted keys make every step a vectorised Arrow kernel: a duplicate is equal to
its predecessor, the rows through a key are a prefix, and the left join looks
each of the first mart's keys up in the other's (unique) keys, so the first
mart's order is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


class NotSorted(Exception):
    """A mart's rows are not ordered by the entity key."""


def _sorted(keys: pa.ChunkedArray | pa.Array) -> bool:
    if keys.null_count:
        return False
    if len(keys) < 2:
        return True
    return bool(pc.all(pc.less_equal(keys.slice(0, len(keys) - 1), keys.slice(1))).as_py())


class _Cursor:
    """One mart's stream with a buffer of rows not yet joined."""

    def __init__(self, name: str, tables: Iterator[pa.Table], key: str) -> None:
        self.name, self.tables, self.key = name, tables, key
        self.buffer: pa.Table | None = None
        self.done = False
        self.last: Any = None  # the last key pulled (an Arrow scalar)

    def _pull(self) -> None:
        try:
            table = next(self.tables)
        except StopIteration:
            self.done = True
            return
        if table.num_rows:
            keys = table.column(self.key)
            if not _sorted(keys) or (self.last is not None and pc.less(keys[0], self.last).as_py()):
                raise NotSorted(self.name)
            self.last = keys[-1]
        if self.buffer is None or not self.buffer.num_rows:
            self.buffer = table
        else:
            self.buffer = pa.concat_tables([self.buffer, table], promote_options="permissive")

    def columns(self) -> list[str]:
        while self.buffer is None and not self.done:
            self._pull()
        return [] if self.buffer is None else list(self.buffer.column_names)

    def take_through(self, high: Any) -> pa.Table:
        """Every buffered row with key <= ``high``, reading on until the stream passes it."""
        while not self.done and (self.buffer is None or not self.buffer.num_rows
                                 or pc.less_equal(self.buffer.column(self.key)[-1], high).as_py()):
            self._pull()
        assert self.buffer is not None
        # Sorted: the rows through ``high`` are a prefix.
        through = int(pc.sum(pc.less_equal(self.buffer.column(self.key), high)).as_py() or 0)
        part = self.buffer.slice(0, through)
        self.buffer = self.buffer.slice(through)
        return part


def merge_sorted(streams: dict[str, Iterator[pa.Table]], key: str,
                 on_duplicates: Callable[[str, int], None],
                 check_columns: Callable[[dict[str, list[str]]], None]) -> Iterator[pa.Table]:
    """Left-join the marts on ``key``, in the order given, one chunk of the first at a time.

    Duplicate keys keep their first row (``on_duplicates(mart, count)`` is told).
    The first table yielded may be empty: it carries the joined columns.

    Raises:
        NotSorted: a mart's rows are not in key order, or a key is empty.
    """
    names = list(streams)
    primary = _Cursor(names[0], streams[names[0]], key)
    others = [_Cursor(name, streams[name], key) for name in names[1:]]
    check_columns({cursor.name: cursor.columns() for cursor in [primary, *others]})
    previous_last = None
    emitted = False
    for table in _tables(primary):
        if table.num_rows and previous_last is not None:
            repeated = pc.equal(table.column(key), previous_last)
            if (count := int(pc.sum(repeated).as_py() or 0)):
                on_duplicates(primary.name, count)
                table = table.filter(pc.invert(repeated))
        table = _dedupe(table, key, primary.name, on_duplicates)
        if not table.num_rows:
            if not emitted:
                yield _empty_join(table, others)
                emitted = True
            continue
        previous_last = table.column(key)[-1]
        for cursor in others:
            table = _left_join(table, _dedupe(cursor.take_through(previous_last), key, cursor.name,
                                              on_duplicates), key)
        emitted = True
        yield table
    if not emitted:
        yield _empty_join(None, others, key)


def sort_mart(table: pa.Table, key: str) -> pa.Table:
    """A whole mart in key order, rows of one key in their original order (so the first is kept)."""
    return table.take(pc.sort_indices(table, sort_keys=[(key, "ascending")]))


def _tables(cursor: _Cursor) -> Iterator[pa.Table]:
    while True:
        cursor._pull()
        if cursor.done:
            if cursor.buffer is not None and cursor.buffer.num_rows:
                table, cursor.buffer = cursor.buffer, None
                yield table
            return
        pulled, cursor.buffer = cursor.buffer, None
        if pulled is not None:
            yield pulled


def _dedupe(table: pa.Table, key: str, name: str, report: Callable[[str, int], None]) -> pa.Table:
    """One row per key, the first kept: in sorted keys a duplicate equals the key before it."""
    if table.num_rows < 2:
        return table
    keys = table.column(key)
    repeated = pc.equal(keys.slice(1), keys.slice(0, len(keys) - 1))
    count = int(pc.sum(repeated).as_py() or 0)
    if not count:
        return table
    report(name, count)
    keep = pa.concat_arrays([pa.array([True]), *pc.invert(repeated).chunks])
    return table.filter(keep)


def _left_join(left: pa.Table, right: pa.Table, key: str) -> pa.Table:
    """``left`` with ``right``'s other columns beside it, matched on ``key`` (unique in ``right``);
    a left row without a match gets nulls. The left rows keep their order."""
    right_keys = right.column(key)
    left_keys = left.column(key)
    if right_keys.type != left_keys.type:
        right_keys = right_keys.cast(left_keys.type)
    index = pc.index_in(left_keys, value_set=right_keys.combine_chunks())
    for name in right.column_names:
        if name != key:
            left = left.append_column(right.schema.field(name), right.column(name).take(index))
    return left


def _empty_join(table: pa.Table | None, others: list[_Cursor], key: str | None = None) -> pa.Table:
    fields: list[pa.Field] = list(table.schema) if table is not None else [pa.field(str(key), pa.null())]
    seen = {f.name for f in fields}
    for cursor in others:
        if cursor.buffer is not None:
            fields += [f for f in cursor.buffer.schema if f.name not in seen]
        else:
            fields += [pa.field(c, pa.null()) for c in cursor.columns() if c not in seen]
        seen = {f.name for f in fields}
    return pa.schema(fields).empty_table()


def concat_tables(tables: list[Any]) -> Any:
    """One table of the chunks, in order (a column's type widened where chunks differ, as a null chunk's)."""
    return pa.concat_tables(tables, promote_options="permissive")
