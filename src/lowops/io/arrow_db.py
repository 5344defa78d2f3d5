"""Arrow-native reads through ADBC drivers, where one exists for the database.

ADBC hands rows over as Arrow record batches, several times faster and
leaner than DBAPI rows turned into Python objects. The SQL is still the
user's file: SQLAlchemy compiles it for the driver's placeholder style and
renders the window bounds with the dialect's own bind processors, so values
are bound, never formatted into the text, and SQLite sees exactly the strings
SQLAlchemy would have sent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import pyarrow as pa

    from lowops.io.db import Database, SqlFile
    from lowops.windows import Window

_DRIVERS = {"sqlite": "adbc_driver_sqlite", "postgresql": "adbc_driver_postgresql"}


class ArrowUnavailable(Exception):
    """No ADBC path for this database (the caller falls back to SQLAlchemy)."""


def available(db: Database) -> bool:
    module = _DRIVERS.get(db.dialect)
    return module is not None and importlib.util.find_spec(module) is not None


def _compile(db: Database, stmt: sa.TextClause, values: dict[str, Any]) -> tuple[str, list[Any]]:
    if db.dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        dialect: sa.Dialect = sqlite.dialect(paramstyle="qmark")
    else:
        from sqlalchemy.dialects import postgresql

        dialect = postgresql.dialect(paramstyle="numeric_dollar")
    compiled = stmt.compile(dialect=dialect)
    names = list(dict.fromkeys(compiled.positiontup or [])) if db.dialect != "sqlite" else list(
        compiled.positiontup or [])
    params = []
    for name in names:
        processor = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
        value = values[name]
        params.append(processor(value) if processor else value)
    return compiled.string, params


def _connect(db: Database) -> Any:
    if db.dialect == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc

        # mode=ro: an extract can never write to the store.
        return adbc.connect(f"file:{db.url.database}?mode=ro")
    import adbc_driver_postgresql.dbapi as adbc

    url = db.url.set(drivername="postgresql")
    return adbc.connect(url.render_as_string(hide_password=False))


def read_batches(db: Database, sql: SqlFile, stmt: sa.TextClause, values: dict[str, Any],
                 chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Stream the query's rows as Arrow batches of at most ``chunk_rows``.

    Raises:
        ArrowUnavailable: no driver, or the driver failed before the first batch.
    """
    import pyarrow as pa

    if not available(db):
        raise ArrowUnavailable(db.dialect)
    text, params = _compile(db, stmt, values)
    try:
        conn = _connect(db)
    except Exception as exc:  # noqa: BLE001 - any driver failure: fall back to SQLAlchemy
        raise ArrowUnavailable(str(exc)) from None
    try:
        cursor = conn.cursor()
        try:
            if db.dialect == "sqlite":
                # Infer column types from more rows than the default 1,024, so a
                # column whose first rows are NULL is still typed right.
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(max(chunk_rows, 1024))})
            cursor.execute(text, params or None)
            reader = cursor.fetch_record_batch()
        except Exception as exc:  # noqa: BLE001
            raise ArrowUnavailable(str(exc)) from None
        pending: list[pa.RecordBatch] = []
        size = 0
        yielded = False
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            while size >= chunk_rows:
                table = pa.Table.from_batches(pending).combine_chunks()
                head, rest = table.slice(0, chunk_rows), table.slice(chunk_rows)
                yield head.to_batches()[0]
                yielded = True
                pending = rest.to_batches() if rest.num_rows else []
                size = rest.num_rows
        if size or not yielded:
            schema = reader.schema
            table = pa.Table.from_batches(pending, schema=schema).combine_chunks()
            batches = table.to_batches()
            yield batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)
        cursor.close()
    finally:
        conn.close()
