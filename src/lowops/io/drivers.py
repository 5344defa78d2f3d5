"""What each database driver is told so that an extract can neither write nor wait forever.

Every connection lowops opens is read-only and bounded: a connect timeout
(``database.connect_timeout``) and a statement timeout
(``database.statement_timeout``), told to each driver in its own terms —
libpq's ``connect_timeout`` and ``statement_timeout``, PyMySQL's socket timeouts
and the server's ``max_statement_time`` (MariaDB) or ``max_execution_time``
(MySQL), SQLite's busy timeout and a progress handler. SQLite files are opened
through a percent-encoded ``file:`` URI with ``mode=ro``, whatever characters
the path holds.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa


def sqlite_uri(path: str) -> str:
    """A read-only SQLite URI for ``path`` (``#``, ``?`` and ``%`` in it stay part of the path)."""
    return f"file:{quote(path, safe='/')}?mode=ro"


def connect_args(dialect: str, connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
    """Keyword arguments for the DBAPI driver's ``connect``."""
    if dialect == "postgresql":
        return {"connect_timeout": max(2, math.ceil(connect_timeout))}  # libpq: whole seconds, at least 2
    if dialect in ("mysql", "mariadb"):
        # PyMySQL's read timeout also bounds the server's greeting, so it starts as the connect
        # timeout; once connected it becomes the statement timeout (``prepare_engine``).
        return {"connect_timeout": connect_timeout, "read_timeout": connect_timeout,
                "write_timeout": statement_timeout}
    if dialect == "sqlite":
        return {"timeout": connect_timeout}  # how long to wait for another process's write lock
    return {}


def session_statements(dialect: str, statement_timeout: float, *, mariadb: bool | None = None) -> list[str]:
    """What a new session runs first: read-only transactions and the server-side statement timeout.

    ``mariadb`` chooses between MariaDB's and MySQL's timeout variable when known (None: try both).
    """
    if dialect == "postgresql":
        return ["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                f"SET statement_timeout = {int(statement_timeout * 1000)}"]
    if dialect in ("mysql", "mariadb"):
        statements = ["SET SESSION TRANSACTION READ ONLY"]
        if mariadb is not False:
            statements.append(f"SET SESSION max_statement_time = {statement_timeout:g}")
        if mariadb is not True:
            statements.append(f"SET SESSION max_execution_time = {int(statement_timeout * 1000)}")
        return statements
    return []


def prepare_engine(engine: sa.Engine, dialect: str, statement_timeout: float) -> None:
    """Make every connection of ``engine`` read-only and bounded, as it is opened."""
    if dialect == "sqlite":
        _bound_sqlite(engine, statement_timeout)
        return

    @sa.event.listens_for(engine, "connect")
    def _session(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in session_statements(dialect, statement_timeout):
                try:
                    cursor.execute(statement)
                except Exception:  # noqa: BLE001 - the other server's variable (MySQL vs MariaDB)
                    if "READ ONLY" in statement:
                        raise
        finally:
            cursor.close()
        if dialect == "postgresql":
            dbapi_connection.commit()  # the SETs ran in psycopg's implicit transaction: keep them
        elif hasattr(dbapi_connection, "_read_timeout"):
            # PyMySQL reads this before every read: from now on a wait may last a statement's time.
            dbapi_connection._read_timeout = statement_timeout


# sqlite3 calls the progress handler every this many virtual-machine instructions.
_SQLITE_STEPS = 100_000


def _bound_sqlite(engine: sa.Engine, statement_timeout: float) -> None:
    """Interrupt a statement running longer than ``statement_timeout`` (sqlite3 has no server to tell)."""
    started: dict[int, float] = {}

    @sa.event.listens_for(engine, "connect")
    def _handler(dbapi_connection: Any, _record: Any) -> None:
        key = id(dbapi_connection)
        started[key] = time.monotonic()

        def progress() -> int:
            return 1 if time.monotonic() - started[key] > statement_timeout else 0

        dbapi_connection.set_progress_handler(progress, _SQLITE_STEPS)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, *_args: Any) -> None:
        started[id(conn.connection.dbapi_connection)] = time.monotonic()
