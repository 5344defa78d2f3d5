"""The only code that talks to the database.

SQL lives in files; Python binds values. Window bounds reach the database as
bound parameters typed ``DateTime`` (never formatted into the text), every
extract runs in a read-only transaction where the dialect offers one, and
connection failures are retried with backoff before exit 69.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lowops import secrets
from lowops.errors import ConfigError, DatabaseError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from lowops.windows import Window

WINDOW_PARAMS = ("window_start", "window_end")
# String literals, quoted identifiers and comments, matched in one left-to-right pass
# so that a "--" inside a literal is not taken for a comment (nor a quote in a comment).
_HIDDEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
# SQLAlchemy's own pattern for a named parameter in text(): it knows nothing of
# quotes or comments, so a ':word' inside a literal would be bound too.
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_WRITE_WORDS = re.compile(
    r"\b(insert|update|delete|merge|drop|alter|create|truncate|grant|revoke|attach|detach|"
    r"pragma|vacuum|copy|call|exec|execute|lock|into|load_extension)\b|\breplace\s+into\b|"
    r"\bfor\s+(update|share|no\s+key\s+update|key\s+share)\b", re.I)


def _split(text: str) -> tuple[str, list[str]]:
    """The SQL code with literals and comments blanked out, and those literals and comments."""
    hidden: list[str] = []

    def blank(match: re.Match[str]) -> str:
        hidden.append(match.group(0))
        return "''" if match.group(0)[0] in "'\"" else " "

    return _HIDDEN.sub(blank, text), hidden


@dataclass(frozen=True)
class SqlFile:
    """A query read from a file: its text, digest and the parameters it binds."""

    path: Path
    text: str
    sha256: str
    params: tuple[str, ...]


def read_sql_file(path: Path, key: str) -> SqlFile:
    """Read and check one SQL file named by config key ``key``.

    Raises:
        ConfigError: missing file, more than one statement, a statement that is
            not a SELECT, or a parameter other than the window bounds.
    """
    if not path.is_file():
        raise ConfigError(f"The SQL file {path} named by '{key}' does not exist; create it or fix the path.")
    text = path.read_text(encoding="utf-8")
    code, hidden = _split(text)
    code = code.strip()
    code = code[:-1].rstrip() if code.endswith(";") else code
    if not code:
        raise ConfigError(f"The SQL file {path} ('{key}') holds no query.")
    if ";" in code:
        raise ConfigError(f"The SQL file {path} ('{key}') holds several statements; keep one SELECT per file.")
    if not re.match(r"^\(*\s*(select|with)\b", code, re.I) or _WRITE_WORDS.search(code):
        raise ConfigError(
            f"The SQL file {path} ('{key}') must be a single read-only SELECT (or WITH … SELECT) query."
        )
    misbound = [name for token in hidden for name in _PARAM.findall(token)]
    if misbound:
        raise ConfigError(
            f"The SQL file {path} ('{key}') has :{misbound[0]} inside a string literal or comment, where it "
            "would be bound as a parameter; write \\: for a literal colon."
        )
    params = tuple(dict.fromkeys(_PARAM.findall(code)))
    unknown = [p for p in params if p not in WINDOW_PARAMS]
    if unknown:
        raise ConfigError(
            f"The SQL file {path} ('{key}') uses the parameter(s) {', '.join(':' + p for p in unknown)}; "
            "only :window_start and :window_end are bound. Write a literal colon as \\: ."
        )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SqlFile(path=path, text=text, sha256=digest, params=params)


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


def render_literal(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any]) -> str:
    """``stmt`` with its window bounds rendered as literals by the URL's dialect (see ``literal_sql``).

    Raises:
        AssertionError: a value is not a ``datetime`` (only window bounds are ever rendered).
    """
    from datetime import datetime

    if not all(type(value) is datetime for value in values.values()):
        raise AssertionError("only the parsed window's datetime bounds are rendered into SQL")
    dialect = url.get_dialect()(paramstyle="qmark")  # type: ignore[call-arg]
    compiled = stmt.bindparams(**values).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


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

    def _statement(self, sql: SqlFile, window: Window | None) -> tuple[sa.TextClause, dict[str, Any]]:
        stmt = sa.text(sql.text)
        binds = [sa.bindparam(p, type_=sa.DateTime()) for p in sql.params]
        if binds:
            stmt = stmt.bindparams(*binds)
        values: dict[str, Any] = {}
        if window is not None:
            start, end = window.bounds_naive_utc()
            values = {k: v for k, v in (("window_start", start), ("window_end", end)) if k in sql.params}
        return stmt, values

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

        stmt, values = self._statement(sql, _Probe())  # type: ignore[arg-type]

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
        from lowops.io import arrow_db

        if arrow_db.available(self):
            stmt, values = self._statement(sql, window)
            batches = arrow_db.read_batches(self, sql, stmt, values, chunk_rows)
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
