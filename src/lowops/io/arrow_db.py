"""Arrow-native reads: ADBC for SQLite and PostgreSQL, ConnectorX for MySQL and MariaDB.

Arrow drivers hand rows over as record batches, several times faster and
leaner than DBAPI rows turned into Python objects (benchmarks/README.md). The
SQL is still the user's file. For SQLite, SQLAlchemy compiles it for the
driver's placeholder style and processes the window bounds with the dialect's
own bind processors, so they are bound and SQLite sees exactly the strings
SQLAlchemy would have sent.

Two drivers stream only without parameters: ConnectorX (MySQL, MariaDB) cannot
bind at all, and ADBC's PostgreSQL driver uses COPY, which streams, only for a
statement without parameters (bound, libpq holds the whole result in memory).
For those the window bounds, the ``datetime`` values of the strictly parsed
window and never user text, are rendered by SQLAlchemy's literal compilation
for the URL's dialect (:func:`lowops.io.sql.render_literal`). ConnectorX
sessions are made read-only first.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lowops.errors import DatabaseError
from lowops.io import drivers
from lowops.io.sql import render_literal

if TYPE_CHECKING:
    import pyarrow as pa

_DRIVERS = {"sqlite": "adbc_driver_sqlite", "postgresql": "adbc_driver_postgresql",
            "mysql": "connectorx", "mariadb": "connectorx"}
_CONNECTORX = ("mysql", "mariadb")


class ArrowUnavailable(Exception):
    """No ADBC path for this database (the caller falls back to SQLAlchemy)."""


def available(url: sa.URL) -> bool:
    module = _DRIVERS.get(url.get_backend_name())
    return module is not None and importlib.util.find_spec(module) is not None


def _compile(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any]) -> tuple[str, list[Any]]:
    if url.get_backend_name() == "postgresql":
        # With bound parameters the driver cannot use COPY and libpq holds the whole
        # result in memory (1M rows x 20 columns: 830 MB, against 155 MB streamed by
        # COPY; benchmarks/README.md), so the bounds are rendered by the dialect.
        return render_literal(url, stmt, values), []
    from sqlalchemy.dialects import sqlite

    dialect: sa.Dialect = sqlite.dialect(paramstyle="qmark")
    compiled = stmt.compile(dialect=dialect)
    names = list(compiled.positiontup or [])
    params = []
    for name in names:
        processor = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
        value = values[name]
        params.append(processor(value) if processor else value)
    return compiled.string, params


def _connect(url: sa.URL, connect_timeout: float, statement_timeout: float) -> Any:
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        # mode=ro: an extract can never write to the store (whatever characters its path holds).
        return adbc_sqlite.connect(drivers.sqlite_uri(str(url.database)))
    import adbc_driver_postgresql.dbapi as adbc_postgresql

    bounded = url.update_query_dict({"connect_timeout": str(drivers.connect_args("postgresql", connect_timeout,
                                                                              statement_timeout)["connect_timeout"])})
    conn = adbc_postgresql.connect(postgres_uri(bounded))
    cursor = conn.cursor()
    try:
        for statement in drivers.session_statements("postgresql", statement_timeout):
            cursor.execute(statement)
    finally:
        cursor.close()
    conn.commit()  # the session's defaults apply from the next transaction on: the query's
    return conn


def postgres_uri(url: sa.URL) -> str:
    """The libpq URI ADBC's PostgreSQL driver takes, from a SQLAlchemy URL of any PostgreSQL driver.

    ``postgresql+psycopg://u:p@h:5432/db?options=-csearch_path%3Dx`` becomes
    ``postgresql://u:p@h:5432/db?options=-csearch_path%3Dx``: the driver name goes,
    user, password (percent-encoded), host, port, database and libpq query
    parameters stay as they are.
    """
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connectorx_uri(url: sa.URL) -> str:
    """The URL ConnectorX takes, from a SQLAlchemy MySQL/MariaDB URL of any driver.

    ``mysql+pymysql://u:p@h:3306/db`` becomes ``mysql://u:p@h:3306/db``. PyMySQL's
    ``charset`` goes (ConnectorX speaks utf8mb4); any other parameter ConnectorX
    does not know makes it refuse, and lowops then reads through SQLAlchemy.
    """
    query = {k: v for k, v in url.query.items() if k != "charset"}
    return url.set(drivername="mysql", query=query).render_as_string(hide_password=False)


def _session(statement_timeout: float, mariadb: bool | None) -> list[str]:
    """ConnectorX runs these before the query; a statement the server does not know would fail the read,
    so the server-side timeout is set only once the server is known (the pulls are bounded anyway)."""
    statements = drivers.session_statements("mysql", statement_timeout, mariadb=mariadb)
    return statements if mariadb is not None else statements[:1]


def _connectorx_reader(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any], chunk_rows: int,
                       statement_timeout: float, mariadb: bool | None) -> Any:
    import connectorx as cx

    text = render_literal(url, stmt, values)
    try:
        return cx.read_sql(connectorx_uri(url), text, return_type="arrow_stream", batch_size=chunk_rows,
                           pre_execution_query=_session(statement_timeout, mariadb))
    except BaseException as exc:  # noqa: BLE001 - Rust panics arrive as BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise ArrowUnavailable(str(exc)) from None


def read_batches(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any], chunk_rows: int, *,
                 connect_timeout: float = 10.0, statement_timeout: float = 1800.0,
                 mariadb: bool | None = None) -> Iterator[pa.RecordBatch]:
    """Stream the query's rows as Arrow batches of at most ``chunk_rows``, each awaited at most ``statement_timeout``.

    Raises:
        ArrowUnavailable: no driver, or the driver failed before the first batch.
        DatabaseError: a batch did not come within ``statement_timeout`` seconds.
    """
    return Bounded(_guarded(_batches(url, stmt, values, chunk_rows, connect_timeout, statement_timeout, mariadb)),
                   statement_timeout)


def _guarded(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A driver's failure before the first batch is :class:`ArrowUnavailable`: SQLAlchemy runs the query
    instead, and its error says whose fault it is (the SQL file's, the data's, the server's). A failure
    after it arrives as a RuntimeError the caller reports (a ConnectorX panic is not even an Exception)."""
    yielded = False
    try:
        for batch in batches:
            yield batch
            yielded = True
    except (ArrowUnavailable, GeneratorExit, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - Rust panics arrive as BaseException
        if not yielded:
            raise ArrowUnavailable(str(exc)) from None
        raise RuntimeError(str(exc)) from None


def _batches(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any], chunk_rows: int,
             connect_timeout: float, statement_timeout: float, mariadb: bool | None) -> Iterator[pa.RecordBatch]:
    dialect = url.get_backend_name()
    if not available(url):
        raise ArrowUnavailable(dialect)
    if dialect in _CONNECTORX:
        yield from _rechunk(_connectorx_reader(url, stmt, values, chunk_rows, statement_timeout, mariadb),
                            chunk_rows)
        return
    text, params = _compile(url, stmt, values)
    try:
        conn = _connect(url, connect_timeout, statement_timeout)
    except Exception as exc:  # noqa: BLE001 - any driver failure: fall back to SQLAlchemy
        raise ArrowUnavailable(str(exc)) from None
    cursor = None
    try:
        cursor = conn.cursor()
        try:
            if dialect == "sqlite":
                # Infer column types from more rows than the default 1,024, so a
                # column whose first rows are NULL is still typed right.
                cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(max(chunk_rows, 1024))})
            cursor.execute(text, params or None)
            reader = cursor.fetch_record_batch()
        except Exception as exc:  # noqa: BLE001
            raise ArrowUnavailable(str(exc)) from None
        yield from _rechunk(reader, chunk_rows)
    finally:
        # Also when the consumer stops early: ADBC refuses to close a connection
        # whose statement is still open.
        if cursor is not None:
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - closing after a failure; the first error matters
                pass
        conn.close()


def _rechunk(reader: Any, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The reader's rows as batches of exactly ``chunk_rows`` (the last may be shorter; one empty if none)."""
    import pyarrow as pa

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


class Bounded:
    """An iterator whose every item is awaited at most ``timeout`` seconds.

    Not every Arrow driver can be told a statement timeout (ADBC's SQLite driver
    cannot be cancelled at all), so each pull runs in a daemon thread: a driver
    that never answers costs ``timeout`` seconds and exit 69, never the lock forever.
    The stuck thread ends with the process.
    """

    def __init__(self, iterator: Iterator[Any], timeout: float) -> None:
        self.iterator, self.timeout = iterator, timeout
        self.stuck = False

    def __iter__(self) -> Bounded:
        return self

    def __next__(self) -> Any:
        box: dict[str, Any] = {}

        def pull() -> None:
            try:
                box["value"] = next(self.iterator)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread as it is
                box["error"] = exc

        thread = threading.Thread(target=pull, name="lowops-arrow-read", daemon=True)
        thread.start()
        thread.join(self.timeout)
        if thread.is_alive():
            self.stuck = True
            raise DatabaseError(f"The database returned no rows within database.statement_timeout "
                                f"({self.timeout:g} s); check the server, or raise the timeout.")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def close(self) -> None:
        """Close the underlying reader (its cursor and connection), unless a pull is stuck in it."""
        close = getattr(self.iterator, "close", None)
        if close is not None and not self.stuck:
            close()

    def __del__(self) -> None:
        self.close()
