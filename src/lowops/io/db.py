"""The only code that talks to the database.

SQL lives in files; Python binds values. Window bounds reach the database as
bound parameters typed ``DateTime`` (never formatted into the text), every
session is read-only with a connect and a statement timeout (:mod:`lowops.io.drivers`),
and a database that does not answer is retried with backoff before exit 69;
an error in the SQL itself is the SQL file's (78), bad values are the data's
(65) (:mod:`lowops.io.db_errors`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lowops import secrets
from lowops.errors import ConfigError, DatabaseError, LowopsError
from lowops.io import arrow_db, db_errors, drivers
from lowops.io.sql import Bounded, SqlFile, read_sql_file, render_literal, statement

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lowops.windows import Window

__all__ = ["Database", "SqlFile", "read_sql_file", "render_literal"]


def masked(url: str) -> str:
    """A database URL fit for messages (its password masked), learning the password to redact it elsewhere.

    Raises:
        ValueError: ``url`` is not a SQLAlchemy URL (the message says so, masked).
    """
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError:
        raise ValueError(f"not a SQLAlchemy URL: {secrets.mask_url(url)!r} "
                         "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)") from None
    secrets.register_url(url)
    return secrets.redact(parsed.render_as_string(hide_password=True))


def _resolve_sqlite(url: sa.URL, root: Path) -> sa.URL:
    # A relative SQLite path is relative to the project, not to wherever cron starts.
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.is_absolute():
            return url.set(database=str(root / db))
    return url


class Database:
    """An engine with retries, masking, timeouts and read-only sessions.

    Args:
        url: the SQLAlchemy URL (a relative SQLite path is the project's).
        root: the project directory.
        retries: attempts when the database does not answer, then 69.
        backoff: seconds before the second attempt, doubled after each.
        connect_timeout: seconds a connection may take to be established.
        statement_timeout: seconds a statement may run (and a fetch may wait).
    """

    def __init__(self, url: str, root: Path, retries: int = 3, backoff: float = 1.0, *,
                 connect_timeout: float = 10.0, statement_timeout: float = 1800.0) -> None:
        try:
            parsed = sa.make_url(url)
        except sa_exc.ArgumentError:
            raise ConfigError(
                f"The 'database.url' parameter must be a SQLAlchemy URL such as "
                f"sqlite:///demo/store.sqlite. Got {secrets.mask_url(url)!r} instead."
            ) from None
        self.url = _resolve_sqlite(parsed, root)
        if self.url.password:
            secrets.register(str(self.url.password))
        secrets.register_url(self.url.render_as_string(hide_password=False))  # and ?password=… in the query
        self.masked_url = secrets.redact(self.url.render_as_string(hide_password=True))
        self.retries = retries
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self._engine: sa.Engine | None = None
        self._answered = False
        self._mariadb: bool | None = None

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def engine(self) -> sa.Engine:
        if self._engine is None:
            url = self.url
            if self.dialect == "sqlite" and self.url.database and self.url.database != ":memory:":
                if not Path(self.url.database).is_file():
                    raise DatabaseError(
                        f"Database {self.masked_url} does not exist; check 'database.url' "
                        "(for the demo store run `lowops init` or scripts/demo.sh)."
                    )
                # mode=ro: an extract can never write to the store; the path is percent-encoded in the URI.
                uri, _, _ = drivers.sqlite_uri(self.url.database).partition("?")
                url = self.url.set(database=uri, query={"mode": "ro", "uri": "true"})
            try:
                self._engine = sa.create_engine(
                    url, hide_parameters=True, pool_pre_ping=True,
                    connect_args=drivers.connect_args(self.dialect, self.connect_timeout, self.statement_timeout))
            except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
                raise ConfigError(
                    f"Cannot use database {self.masked_url}: {secrets.redact(str(exc))}. "
                    "Install the driver (e.g. pip install 'lowops[postgres]' or 'lowops[mysql]')."
                ) from None
            drivers.prepare_engine(self._engine, self.dialect, self.statement_timeout)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _fail(self, exc: BaseException, what: str, sql: SqlFile | None = None) -> LowopsError:
        return db_errors.classify(exc, self.masked_url, what, sql.path if sql is not None else None,
                                  self.statement_timeout)

    def _with_retries(self, what: str, action: Any, *, retries: int | None = None,
                      sql: SqlFile | None = None) -> Any:
        """``action()``, retried with backoff while the database does not answer; other failures at once."""
        delay = self.backoff
        attempts = self.retries if retries is None else retries
        for attempt in range(1, attempts + 1):
            try:
                return action()
            except sa_exc.SQLAlchemyError as exc:
                retry = (isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
                         and db_errors.kind(exc) == db_errors.CONNECTION)
                if not retry or attempt == attempts:
                    raise self._fail(exc, what, sql) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Check that the database answers (retried; each attempt bounded by ``connect_timeout``)."""

        def action() -> Any:
            with self.engine().connect() as conn:
                if self.dialect in ("mysql", "mariadb"):  # which server: their timeout variables differ
                    return conn.execute(sa.text("SELECT VERSION()")).scalar()
                return conn.execute(sa.text("SELECT 1")).scalar()

        answer = self._with_retries("to answer", action)
        self._answered = True
        if self.dialect in ("mysql", "mariadb"):
            self._mariadb = "mariadb" in str(answer).lower()

    def _statement(self, sql: SqlFile, window: Bounded | None) -> tuple[sa.TextClause, dict[str, Any]]:
        return statement(sql, window)

    def literal_sql(self, sql: SqlFile, window: Window) -> str:
        """The query with the window bounds rendered as literals by the dialect's own compiler.

        Only for drivers that cannot bind parameters (ConnectorX). The values are
        the ``datetime`` bounds of the strictly parsed window, never user text, and
        SQLAlchemy renders them as the dialect's DATETIME literals; a placeholder
        style that needs no escaping is used, so a ``%`` in the SQL stays as written.
        """
        stmt, values = self._statement(sql, window)
        return render_literal(self.url, stmt, values)

    def check_query(self, sql: SqlFile) -> list[str]:
        """Compile and prepare a query without fetching rows; return its columns."""
        from datetime import datetime

        class _Probe:
            def bounds_naive_utc(self) -> tuple[datetime, datetime]:
                return datetime(1970, 1, 1), datetime(1970, 1, 1)

        stmt, values = self._statement(sql, _Probe())

        def action() -> list[str]:
            with self.engine().connect() as conn:
                # An empty window: the database parses and plans the query, returns nothing.
                result = conn.execute(stmt, values)
                columns = list(result.keys())
                result.close()
                return columns

        # The connection was checked already: a failure here is the query's own (no retries).
        return list(self._with_retries(f"the query in {sql.path}", action, retries=1, sql=sql))

    def read_frames(self, sql: SqlFile, window: Window, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Stream the query's rows for ``window`` as DataFrames of at most ``chunk_rows``.

        The first frame is always yielded, empty when the window has no rows, so
        the caller learns the columns either way.
        """
        import pandas as pd

        stmt, values = self._statement(sql, window)
        conn = self._with_retries("to connect", lambda: self.engine().connect())
        try:
            result = conn.execution_options(stream_results=True).execute(stmt, values)
            columns = list(result.keys())
            first = True
            while True:
                rows = result.fetchmany(chunk_rows)
                if not rows and not first:
                    break
                first = False
                yield pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
                if not rows:
                    break
        except sa_exc.SQLAlchemyError as exc:
            # sqlite3: "Could not decode to UTF-8 column 'region' with text ..." is bad data, not a dead database.
            decode = re.search(r"Could not decode to UTF-8 column '([^']*)'", str(getattr(exc, "orig", exc)))
            if decode:
                raise db_errors.not_utf8(sql, decode.group(1)) from None
            raise self._fail(exc, f"the query in {sql.path}", sql) from None
        finally:
            conn.close()

    def _arrow_batches(self, sql: SqlFile, window: Window, chunk_rows: int) -> Iterator[pa.RecordBatch] | None:
        """The query's rows as Arrow batches from an Arrow-native driver, or None when there is none or it
        cannot run the query (SQLAlchemy then can, and says why if it cannot). The first batch is read here.

        A server is asked first whether it answers (bounded, retried), since not every Arrow driver
        bounds its own connect; every batch is then awaited at most ``statement_timeout``.
        """
        if not arrow_db.available(self.url):
            return None
        if self.dialect != "sqlite" and not self._answered:
            self.ping()
        stmt, values = self._statement(sql, window)
        batches = arrow_db.read_batches(self.url, stmt, values, chunk_rows,
                                        connect_timeout=self.connect_timeout,
                                        statement_timeout=self.statement_timeout, mariadb=self._mariadb)
        try:
            first = next(batches)
        except arrow_db.ArrowUnavailable:
            return None
        except LowopsError:
            raise
        except Exception as exc:  # noqa: BLE001 - a driver error, reported as the database's
            raise self._fail(exc, f"the query in {sql.path}", sql) from None

        def rest() -> Iterator[pa.RecordBatch]:
            yield db_errors.valid_text(first, sql)
            try:
                for batch in batches:
                    yield db_errors.valid_text(batch, sql)
            except LowopsError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise db_errors.type_change(exc, first.schema.names, window) or self._fail(
                    exc, f"the query in {sql.path}", sql) from None

        return rest()

    def stream(self, sql: SqlFile, window: Window, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Like :meth:`read_frames`, through an Arrow-native driver when one is installed.

        The first frame is always yielded (empty when there are no rows).
        """
        batches = self._arrow_batches(sql, window, chunk_rows)
        if batches is None:
            yield from self.read_frames(sql, window, chunk_rows)
            return
        for batch in batches:
            yield batch.to_pandas()

    def stream_tables(self, sql: SqlFile, window: Window, chunk_rows: int) -> Iterator[pa.Table]:
        """Like :meth:`stream`, as Arrow tables: an Arrow driver's batches as they come, SQLAlchemy's rows
        converted once (a text column holding mixed Python types becomes text, so Arrow can hold it).

        The first table is always yielded (empty when there are no rows).
        """
        import pyarrow as pa

        batches = self._arrow_batches(sql, window, chunk_rows)
        if batches is None:
            for frame in self.read_frames(sql, window, chunk_rows):
                yield pa.Table.from_pandas(_text_normalised(frame), preserve_index=False)
            return
        for batch in batches:
            yield pa.Table.from_batches([batch])

    def read_table(self, sql: SqlFile, window: Window, chunk_rows: int) -> pa.Table:
        """The whole window's result as one Arrow table (columns kept when it is empty); chunks whose types
        Arrow cannot unify are unified as pandas would (text where a column mixes text and numbers)."""
        import pandas as pd
        import pyarrow as pa

        tables = [t for i, t in enumerate(self.stream_tables(sql, window, chunk_rows)) if i == 0 or t.num_rows]
        if len(tables) == 1:
            return tables[0]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
            return pa.Table.from_pandas(_text_normalised(frame), preserve_index=False)

    def read_frame(self, sql: SqlFile, window: Window, chunk_rows: int) -> pd.DataFrame:
        """The whole window's result as one DataFrame (columns kept when it is empty)."""
        import pandas as pd

        chunks = [c for i, c in enumerate(self.stream(sql, window, chunk_rows)) if i == 0 or len(c)]
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _text_normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding mixed Python types (a DBAPI driver's rows) become text, so Arrow can store them."""
    for column in frame.columns:
        if frame[column].dtype == object:
            values = frame[column]
            kinds = {type(v) for v in values.dropna().head(10_000)}
            if len(kinds) > 1:
                frame[column] = values.where(values.isna(), values.astype(str))
    return frame
