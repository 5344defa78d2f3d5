"""The database can be wrong in every way but one: lowops never writes to it, never waits on it forever,
and says whose fault a failure is (the server: 69, the SQL file: 78, the data: 65).

SQLite runs on files made here; PostgreSQL and MariaDB are the servers on 127.0.0.1 (each test
works in its own schema or database, dropped afterwards); a silent server is a socket that
accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import copy_project, invoke, set_config
from db_support import scratch
from reliability_support import fast_ran, lock_free

from lowops.errors import ConfigError, DatabaseError, DataError
from lowops.io import arrow_db
from lowops.io.db import Database
from lowops.io.sql import SqlFile, read_sql_file
from lowops.windows import parse_window

WINDOW = parse_window("2025-01")


def _sql(tmp_path: Path, text: str, name: str = "q.sql") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _unchecked(path: Path) -> SqlFile:
    """A query that never went through ``read_sql_file``: what the database alone would do with it."""
    text = path.read_text()
    return SqlFile(path=path, text=text, sha256="-", params=())


# ----------------------------------------------------------------------------- the SELECT gate


@pytest.mark.parametrize(("dialect", "text"), [
    # A quote the old check saw as a string literal is, to this database, part of a name: the
    # statements after it would run. Each database's own tokenizer says where its quotes end.
    ("sqlite", "SELECT [x'] AS a FROM t; DELETE FROM t; --']"),
    ("mysql", "SELECT `x'` AS a FROM t; DELETE FROM t; -- '`"),
    ("postgresql", "SELECT $$'$$ AS a; DELETE FROM t RETURNING '1' --'"),
    ("postgresql", "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone"),
    ("mysql", "SELECT a FROM t LOCK IN SHARE MODE"),
    ("postgresql", "SELECT a FROM t FOR NO KEY UPDATE"),
])
def test_a_write_hidden_by_a_dialects_quoting_is_refused(tmp_path: Path, dialect: str, text: str) -> None:
    path = _sql(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        read_sql_file(path, "features.marts.t", dialect)
    assert excinfo.value.exit_code == 78
    assert str(excinfo.value) in (
        f"The SQL file {path} ('features.marts.t') holds several statements; keep one SELECT per file.",
        f"The SQL file {path} ('features.marts.t') must be a single read-only SELECT (or WITH … SELECT) query.")


@pytest.mark.parametrize(("dialect", "text"), [
    ("sqlite", "SELECT [a;b] AS [c:d] FROM t WHERE m >= :window_start AND m < :window_end;"),
    ("mysql", "SELECT `a;b`, 'x;y' FROM t WHERE m >= :window_start AND m < :window_end"),
    ("postgresql", "SELECT $$a;b$$ AS s, x::int FROM t WHERE m >= :window_start AND m < :window_end"),
])
def test_a_semicolon_in_a_name_or_literal_is_not_a_statement(tmp_path: Path, dialect: str, text: str) -> None:
    assert read_sql_file(_sql(tmp_path, text), "k", dialect).params == ("window_start", "window_end")


@pytest.mark.parametrize(("dialect", "text"), [
    ("sqlite", "SELECT [col :window_end] FROM t WHERE m >= :window_start"),
    ("postgresql", "SELECT $$ :window_end $$ FROM t WHERE m >= :window_start"),
])
def test_a_parameter_inside_a_quoted_name_is_refused(tmp_path: Path, dialect: str, text: str) -> None:
    path = _sql(tmp_path, text)
    with pytest.raises(ConfigError) as excinfo:
        read_sql_file(path, "k", dialect)
    assert str(excinfo.value) == (f"The SQL file {path} ('k') has :window_end inside a string literal or comment, "
                                  "where it would be bound as a parameter; write \\: for a literal colon.")


# ----------------------------------------------------------------------------- SQLite files


def _store(path: Path, rows: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, m TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "2025-01-15 00:00:00") for i in range(rows)])
    return path


def test_a_sqlite_path_with_uri_characters_is_read_and_stays_read_only(tmp_path: Path) -> None:
    # The project's own directory holds the characters; the URL names the store relative to it.
    folder = tmp_path / "team #1?x=%41"
    _store(folder / "demo" / "store.sqlite", rows=7)
    _store(tmp_path / "team ", rows=2)  # what "team #1…" would name if '#' ended the path
    db = Database("sqlite:///demo/store.sqlite", folder)
    sql = read_sql_file(_sql(tmp_path, "SELECT id FROM t WHERE m >= :window_start AND m < :window_end"), "k",
                        "sqlite")
    assert len(db.read_frame(sql, WINDOW, 100)) == 7  # the Arrow driver's read
    assert len(pd_concat(db.read_frames(sql, WINDOW, 100))) == 7  # SQLAlchemy's
    with pytest.raises(sa.exc.OperationalError, match="readonly"), db.engine().connect() as conn:
        conn.execute(sa.text("DELETE FROM t"))
    db.dispose()


def pd_concat(frames: Iterator[object]) -> object:
    import pandas as pd

    return pd.concat(list(frames), ignore_index=True)  # type: ignore[arg-type]


def test_an_error_in_the_sql_is_the_sql_files_not_the_databases(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{_store(tmp_path / 'store.sqlite')}", tmp_path)
    for text in ("SELECT no_such_column FROM t", "SELECT id FROM no_such_table"):
        path = _sql(tmp_path, text)
        sql = read_sql_file(path, "k", "sqlite")
        with pytest.raises(ConfigError) as excinfo:
            db.read_frame(sql, WINDOW, 100)
        assert excinfo.value.exit_code == 78
        assert str(excinfo.value).startswith(f"The SQL file {path} failed on sqlite:///")
        assert str(excinfo.value).endswith("fix the query (`lowops validate` runs every query on an empty window).")
        with pytest.raises(ConfigError, match=f"The SQL file {path} failed on"):
            db.check_query(sql)
    db.dispose()


def test_a_runaway_sqlite_query_is_stopped_at_the_statement_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{_store(tmp_path / 'store.sqlite')}", tmp_path, statement_timeout=1)
    # Long enough to pass the timeout on any machine, short enough that the Arrow driver's own
    # thread (it cannot be cancelled; the CLI's process ends with it) finishes soon after.
    sql = read_sql_file(_sql(tmp_path, "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                                       "WHERE i < 100000000) SELECT count(*) AS n FROM r"), "k", "sqlite")
    for read in (lambda: list(db.read_frames(sql, WINDOW, 100)), lambda: db.read_frame(sql, WINDOW, 100)):
        with pytest.raises(DatabaseError) as excinfo:
            read()
        assert excinfo.value.exit_code == 69
        assert "within database.statement_timeout (1 s)" in str(excinfo.value)
    db.dispose()


# ----------------------------------------------------------------------------- a server that never answers


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word; yields the port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("scheme", ["postgresql+psycopg://u@127.0.0.1:{port}/db",
                                    "mysql+pymysql://u@127.0.0.1:{port}/db"])
def test_a_silent_server_is_69_within_the_connect_timeout(tmp_path: Path, scheme: str) -> None:
    with silent_server() as port:
        db = Database(scheme.format(port=port), tmp_path, retries=2, backoff=0, connect_timeout=1)
        with pytest.raises(DatabaseError) as excinfo:  # (a hang would be stopped by the test's timeout)
            db.ping()
    assert excinfo.value.exit_code == 69
    assert str(excinfo.value).startswith(f"Database {scheme.split('//')[0]}//u@127.0.0.1:{port}/db failed to answer: ")


def test_a_silent_server_ends_the_command_with_69_and_frees_the_lock(tmp_path_factory: pytest.TempPathFactory,
                                                                     tmp_path: Path) -> None:
    project = copy_project(fast_ran(tmp_path_factory), tmp_path / "churn")
    set_config(project, {"database": {"connect_timeout": 1, "retries": 2, "retry_backoff": 0}})
    with silent_server() as port:
        url = f"postgresql+psycopg://lowops@127.0.0.1:{port}/test"
        for args in (["run", "--window", "2025-04"], ["extract", "--window", "2025-04"], ["validate"]):
            result = invoke(project, *args, env={"LOWOPS_DB_URL": url})
            assert result.exit_code == 69, (args, result.output)
            assert result.stderr.startswith(f"Error: Database {url} failed to answer: "), result.stderr
            assert lock_free(project / "repo")
    # The next tick is not turned away by a lock its predecessor left behind.
    assert invoke(project, "run", "--window", "2025-04").exit_code == 0


# ----------------------------------------------------------------------------- the real servers


@contextlib.contextmanager
def with_table(kind: str) -> Iterator[str]:
    """A private PostgreSQL schema or MariaDB database holding table t; its URL (dropped afterwards)."""
    with scratch(kind) as url:
        table = sa.create_engine(url)
        with table.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER, m TIMESTAMP NULL)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, '2025-01-15 00:00:00'), (2, '2025-01-16 00:00:00')"))
        table.dispose()
        yield url


def _rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one())
    engine.dispose()
    return count


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_every_session_is_read_only_even_for_sql_that_slipped_past(tmp_path: Path, kind: str) -> None:
    with with_table(kind) as url:
        db = Database(url, tmp_path)
        with pytest.raises(sa.exc.SQLAlchemyError, match="(?i)read.only"), db.engine().begin() as conn:
            conn.execute(sa.text("DELETE FROM t"))
        writes = ("WITH gone AS (DELETE FROM t RETURNING id) SELECT id FROM gone"
                  if "postgresql" in url else "DELETE FROM t")
        for read in (db.read_frames, db.stream):  # SQLAlchemy's session and the Arrow driver's
            with pytest.raises((ConfigError, DatabaseError)):
                list(read(_unchecked(_sql(tmp_path, writes)), WINDOW, 100))
        db.dispose()
        assert _rows(url) == 2


@pytest.mark.parametrize(("kind", "text"), [("postgresql", "SELECT pg_sleep(30) AS s, id FROM t"),
                                            ("mariadb", "SELECT SLEEP(30) AS s, id FROM t")],
                         ids=["postgresql", "mariadb"])
def test_a_slow_statement_is_69_at_the_statement_timeout(tmp_path: Path, kind: str, text: str) -> None:
    with with_table(kind) as url:
        db = Database(url, tmp_path, retries=1, statement_timeout=2)
        sql = read_sql_file(_sql(tmp_path, text), "k", db.dialect)
        for read in (db.read_frames, db.stream):
            with pytest.raises(DatabaseError) as excinfo:
                list(read(sql, WINDOW, 100))
            assert excinfo.value.exit_code == 69
        db.dispose()


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_server_errors_are_classified(tmp_path: Path, kind: str) -> None:
    with with_table(kind) as url:
        db = Database(url, tmp_path, retries=3, backoff=0)
        path = _sql(tmp_path, "SELECT no_such_column FROM t")
        with pytest.raises(ConfigError, match=f"^The SQL file {path} failed on "):
            db.read_frame(read_sql_file(path, "k", db.dialect), WINDOW, 100)
        if db.dialect == "postgresql":  # MariaDB answers 1/0 with NULL
            path = _sql(tmp_path, "SELECT 1 / (id - id) AS x FROM t")
            with pytest.raises(DataError, match=f"^The query {path} failed on the data of "):
                db.read_frame(read_sql_file(path, "k", db.dialect), WINDOW, 100)
        db.dispose()


def test_arrow_reads_are_bounded_even_where_the_driver_cannot_be_told() -> None:
    def never() -> Iterator[int]:
        time.sleep(60)
        yield 1

    with pytest.raises(DatabaseError, match=r"no rows within database.statement_timeout \(0.5 s\)"):
        next(arrow_db.Bounded(never(), 0.5))  # (unbounded, it would return 1 after a minute)
