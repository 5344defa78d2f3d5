"""Joining feature marts chunk by chunk: a sorted merge join on the entity key.

When every mart's SQL returns its rows ordered by the key (the templates end
with ``ORDER BY``), the marts can be joined as streams: memory holds one chunk
of the first mart and the matching rows of the others, never the window. If a
mart turns out not to be sorted, :class:`NotSorted` tells the caller to fall
back to an in-memory join.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd


class NotSorted(Exception):
    """A mart's rows are not ordered by the entity key."""


class _Cursor:
    """One mart's stream with a buffer of rows not yet joined."""

    def __init__(self, name: str, frames: Iterator[pd.DataFrame], key: str) -> None:
        self.name, self.frames, self.key = name, frames, key
        self.buffer: pd.DataFrame | None = None
        self.done = False
        self.last: Any = None  # the last key pulled

    def _pull(self) -> None:
        try:
            frame = next(self.frames)
        except StopIteration:
            self.done = True
            return
        if len(frame):
            keys = frame[self.key]
            if not keys.is_monotonic_increasing or (self.last is not None and keys.iloc[0] < self.last):
                raise NotSorted(self.name)
            self.last = keys.iloc[-1]
        self.buffer = frame if self.buffer is None or not len(self.buffer) else pd.concat(
            [self.buffer, frame], ignore_index=True)

    def columns(self) -> list[str]:
        while self.buffer is None and not self.done:
            self._pull()
        return [] if self.buffer is None else list(self.buffer.columns)

    def take_through(self, high: object) -> pd.DataFrame:
        """Every buffered row with key <= ``high``, reading on until the stream passes it."""
        while not self.done and (self.buffer is None or not len(self.buffer)
                                 or self.buffer[self.key].iloc[-1] <= high):
            self._pull()
        assert self.buffer is not None
        mask = self.buffer[self.key] <= high
        part = self.buffer.loc[mask]
        self.buffer = self.buffer.loc[~mask].reset_index(drop=True)
        return part


def merge_sorted(streams: dict[str, Iterator[pd.DataFrame]], key: str,
                 on_duplicates: Callable[[str, int], None],
                 check_columns: Callable[[dict[str, list[str]]], None]) -> Iterator[pd.DataFrame]:
    """Left-join the marts on ``key``, in the order given, one chunk of the first at a time.

    Duplicate keys keep their first row (``on_duplicates(mart, count)`` is told).
    The first frame yielded may be empty: it carries the joined columns.

    Raises:
        NotSorted: a mart's rows are not in key order.
    """
    names = list(streams)
    primary = _Cursor(names[0], streams[names[0]], key)
    others = [_Cursor(name, streams[name], key) for name in names[1:]]
    check_columns({cursor.name: cursor.columns() for cursor in [primary, *others]})
    previous_last = None
    emitted = False
    for frame in _frames(primary):
        if len(frame) and previous_last is not None:
            repeated = frame[key] == previous_last
            if repeated.any():
                on_duplicates(primary.name, int(repeated.sum()))
                frame = frame.loc[~repeated]
        frame = _dedupe(frame, key, primary.name, on_duplicates)
        if not len(frame):
            if not emitted:
                yield _empty_join(frame, others)
                emitted = True
            continue
        high = frame[key].iloc[-1]
        previous_last = high
        for cursor in others:
            part = _dedupe(cursor.take_through(high), key, cursor.name, on_duplicates)
            frame = frame.merge(part, on=key, how="left", sort=False)
        emitted = True
        yield frame
    if not emitted:
        yield _empty_join(pd.DataFrame(columns=[key]), others)


def _frames(cursor: _Cursor) -> Iterator[pd.DataFrame]:
    while True:
        cursor._pull()
        if cursor.done:
            if cursor.buffer is not None and len(cursor.buffer):
                frame, cursor.buffer = cursor.buffer, None
                yield frame
            return
        pulled, cursor.buffer = cursor.buffer, None
        if pulled is not None:
            yield pulled


def _dedupe(frame: pd.DataFrame, key: str, name: str, report: Callable[[str, int], None]) -> pd.DataFrame:
    duplicated = frame.duplicated(subset=[key], keep="first")
    if duplicated.any():
        report(name, int(duplicated.sum()))
        return frame.loc[~duplicated]
    return frame


def _empty_join(frame: pd.DataFrame, others: list[_Cursor]) -> pd.DataFrame:
    columns = list(frame.columns)
    for cursor in others:
        columns += [c for c in cursor.columns() if c not in columns]
    return pd.DataFrame(columns=columns)
