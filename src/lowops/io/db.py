"""The only code that talks to the database.

SQL lives in files; Python binds values. Window bounds reach the database as
bound parameters typed ``DateTime`` (never formatted into the text), every
extract runs in a read-only transaction where the dialect offers one, and
connection failures are retried with backoff before exit 69.
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
from lowops.errors import ConfigError, DatabaseError, DataError
from lowops.io import arrow_db
from lowops.io.sql import Bounded, SqlFile, read_sql_file, render_literal, statement

if TYPE_CHECKING:
    import pandas as pd

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
    return parsed.render_as_string(hide_password=True)


def _not_utf8(sql: SqlFile, column: str) -> DataError:
    return DataError(f"The query {sql.path} returned text that is not valid UTF-8 in column '{column}'; fix the "
                     "source rows, or convert or drop the column in the SQL.")


# The SQLite driver types each column from its first rows; a later value of another type stops it.
_TYPE_CHANGE = re.compile(r"Type mismatch in column (\d+): expected (\w+) but got (\S+)")


def _type_change(exc: Exception, names: list[str], window: Window) -> DataError | None:
    """A column whose values change type after the first rows the driver read: bad data (65), named."""
    found = _TYPE_CHANGE.search(str(exc))
    if found is None or int(found.group(1)) >= len(names):
        return None
    name, expected, got = names[int(found.group(1))], found.group(2), found.group(3).split("/")[0]
    return DataError(f"window {window.label}: column '{name}' holds {got.lower()} values after rows of "
                     f"{expected.lower()} (a number column with text in it?); fix the source or the feature SQL.")


def _valid_text(batch: Any, sql: SqlFile) -> Any:
    """A batch whose text columns hold valid UTF-8 (a driver may pass a store's raw bytes through).

    Raises:
        DataError: a text column holds bytes that are not UTF-8.
    """
    import pyarrow as pa

    for index, field in enumerate(batch.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            try:
                batch.column(index).validate(full=True)
            except pa.ArrowInvalid:
                raise _not_utf8(sql, field.name) from None
    return batch


def _resolve_sqlite(url: sa.URL, root: Path) -> sa.URL:
    # A relative SQLite path is relative to the project, not to wherever cron starts.
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.is_absolute():
            return url.set(database=str(root / db))
    return url


class Database:
    """An engine with retries, masking and read-only extracts."""

    def __init__(self, url: str, root: Path, retries: int = 3, backoff: float = 1.0) -> None:
        try:
            parsed = sa.make_url(url)
        except sa_exc.ArgumentError:
            raise ConfigError(
                f"The 'database.url' parameter must be a SQLAlchemy URL such as "
                f"sqlite:///demo/store.sqlite. Got {secrets.mask_url(url)!r} instead."
            ) from None
        self.url = _resolve_sqlite(parsed, root)
        self.masked_url = self.url.render_as_string(hide_password=True)
        if self.url.password:
            secrets.register(str(self.url.password))
        self.retries = retries
        self.backoff = backoff
        self._engine: sa.Engine | None = None

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def engine(self) -> sa.Engine:
        if self._engine is None:
            if self.dialect == "sqlite" and self.url.database and self.url.database != ":memory:":
                if not Path(self.url.database).is_file():
                    raise DatabaseError(
                        f"Database {self.masked_url} does not exist; check 'database.url' "
                        "(for the demo store run `lowops init` or scripts/demo.sh)."
                    )
                # mode=ro: an extract can never write to the store.
                url = self.url.set(database=f"file:{self.url.database}", query={"mode": "ro", "uri": "true"})
            else:
                url = self.url
            try:
                self._engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=True)
            except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
                raise ConfigError(
                    f"Cannot use database {self.masked_url}: {secrets.redact(str(exc))}. "
                    "Install the driver (e.g. pip install 'lowops[postgres]' or 'lowops[mysql]')."
                ) from None
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _fail(self, exc: Exception, what: str) -> DatabaseError:
        orig = getattr(exc, "orig", None) or exc
        detail = secrets.redact(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)
        return DatabaseError(f"Database {self.masked_url} failed {what}: {detail}")

    def _with_retries(self, what: str, action: Any, *, retries: int | None = None) -> Any:
        delay = self.backoff
        attempts = self.retries if retries is None else retries
        for attempt in range(1, attempts + 1):
            try:
                return action()
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                if attempt == attempts:
                    raise self._fail(exc, what) from None
                time.sleep(delay)
                delay *= 2
            except sa_exc.SQLAlchemyError as exc:
                raise self._fail(exc, what) from None
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Check that the database answers (retried)."""

        def action() -> None:
            with self.engine().connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        self._with_retries("to answer", action)

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
        return list(self._with_retries(f"the query in {sql.path}", action, retries=1))

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
                raise _not_utf8(sql, decode.group(1)) from None
            raise self._fail(exc, f"the query in {sql.path}") from None
        finally:
            conn.close()

    def stream(self, sql: SqlFile, window: Window, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Like :meth:`read_frames`, through an Arrow-native ADBC driver when one is installed.

        The first frame is always yielded (empty when there are no rows).
        """
        if arrow_db.available(self.url):
            stmt, values = self._statement(sql, window)
            batches = arrow_db.read_batches(self.url, stmt, values, chunk_rows)
            try:
                first = next(batches)
            except arrow_db.ArrowUnavailable:
                first = None  # the driver could not run it: SQLAlchemy can
            except Exception as exc:  # noqa: BLE001 - a driver error, reported as the database's
                raise self._fail(exc, f"the query in {sql.path}") from None
            if first is not None:
                yield _valid_text(first, sql).to_pandas()
                try:
                    for batch in batches:
                        yield _valid_text(batch, sql).to_pandas()
                except DataError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    raise _type_change(exc, first.schema.names, window) or self._fail(
                        exc, f"the query in {sql.path}") from None
                return
        yield from self.read_frames(sql, window, chunk_rows)

    def read_frame(self, sql: SqlFile, window: Window, chunk_rows: int) -> pd.DataFrame:
        """The whole window's result as one DataFrame (columns kept when it is empty)."""
        import pandas as pd

        chunks = [c for i, c in enumerate(self.stream(sql, window, chunk_rows)) if i == 0 or len(c)]
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
