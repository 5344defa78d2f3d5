"""Which failure a database error is: the connection (69, retried), the SQL file (78), the data (65).

Cron retries a run that failed with 69, so a mistake in the SQL must not look
like an unreachable database: ``no such column`` is the SQL file's fault and
says so. Drivers report differently (PostgreSQL SQLSTATEs, MySQL error
numbers, SQLite's messages); each is read here.
"""

from __future__ import annotations

import re
from pathlib import Path

from typing import TYPE_CHECKING, Any

from lowops import secrets
from lowops.errors import ConfigError, DatabaseError, DataError, LowopsError

if TYPE_CHECKING:
    from lowops.io.sql import SqlFile
    from lowops.windows import Window

CONNECTION, STATEMENT, DATA, TIMEOUT = "connection", "statement", "data", "timeout"

# MySQL / MariaDB error numbers (server errors 1xxx/3xxx, client errors 2xxx).
_MYSQL_STATEMENT = {1052, 1054, 1060, 1064, 1066, 1109, 1117, 1146, 1149, 1221, 1222, 1241, 1247, 1248, 1250,
                    1305, 1356, 1582, 1583, 1584, 1630}
_MYSQL_DATA = {1264, 1265, 1292, 1366, 1367, 1406, 1411, 1690, 3140}
_MYSQL_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_SQLITE_STATEMENT = re.compile(r"no such (column|table|function)|syntax error|too many columns|ambiguous column"
                               r"|near \"|misuse of|wrong number of arguments|no tables specified|unrecognized token"
                               r"|has no column named|circular reference", re.I)
_SQLITE_TIMEOUT = re.compile(r"^interrupted$", re.I)


def kind(error: BaseException) -> str:
    """``connection``, ``statement``, ``data`` or ``timeout``, from the driver's own error."""
    orig = getattr(error, "orig", None) or error
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        if sqlstate == "57014":  # query_canceled: statement_timeout
            return TIMEOUT
        if sqlstate.startswith("42") or sqlstate.startswith("0A"):  # syntax, undefined object; feature
            return STATEMENT
        if sqlstate.startswith("22"):  # data exception
            return DATA
        return CONNECTION
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and type(orig).__module__.startswith("pymysql"):
        code = args[0]
        if code in _MYSQL_STATEMENT:
            return STATEMENT
        if code in _MYSQL_DATA:
            return DATA
        if code in _MYSQL_TIMEOUT:
            return TIMEOUT
        return CONNECTION
    text = str(orig).strip()
    if type(orig).__module__.startswith("sqlite3") or "sqlite" in type(orig).__module__:
        if _SQLITE_TIMEOUT.search(text):
            return TIMEOUT
        if _SQLITE_STATEMENT.search(text):
            return STATEMENT
    return CONNECTION


def detail(error: BaseException) -> str:
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip()
    return secrets.redact(text.splitlines()[0] if text else type(orig).__name__)


def classify(error: BaseException, database: str, what: str, sql: Path | None, timeout: float) -> LowopsError:
    """The lowops error for a database error ``error`` met while doing ``what``.

    Args:
        error: the driver's (or SQLAlchemy's) exception.
        database: the masked URL, for the message.
        what: what lowops was doing (``to answer``, ``the query in sql/usage.sql``).
        sql: the SQL file being run, if any.
        timeout: ``database.statement_timeout``, for the message.
    """
    found, text = kind(error), detail(error)
    if found == STATEMENT and sql is not None:
        return ConfigError(f"The SQL file {sql} failed on {database}: {text}; fix the query (`lowops validate` "
                           "runs every query on an empty window).")
    if found == DATA and sql is not None:
        return DataError(f"The query {sql} failed on the data of {database}: {text}; fix the source rows or "
                         "convert them in the SQL.")
    if found == TIMEOUT:
        return DatabaseError(f"Database {database} did not finish {what} within database.statement_timeout "
                             f"({timeout:g} s): {text}")
    return DatabaseError(f"Database {database} failed {what}: {text}")


def not_utf8(sql: SqlFile, column: str) -> DataError:
    return DataError(f"The query {sql.path} returned text that is not valid UTF-8 in column '{column}'; fix the "
                     "source rows, or convert or drop the column in the SQL.")


# The SQLite driver types each column from its first rows; a later value of another type stops it.
_TYPE_CHANGE = re.compile(r"Type mismatch in column (\d+): expected (\w+) but got (\S+)")


def type_change(exc: Exception, names: list[str], window: Window) -> DataError | None:
    """A column whose values change type after the first rows the driver read: bad data (65), named."""
    found = _TYPE_CHANGE.search(str(exc))
    if found is None or int(found.group(1)) >= len(names):
        return None
    name, expected, got = names[int(found.group(1))], found.group(2), found.group(3).split("/")[0]
    return DataError(f"window {window.label}: column '{name}' holds {got.lower()} values after rows of "
                     f"{expected.lower()} (a number column with text in it?); fix the source or the feature SQL.")


def valid_text(batch: Any, sql: SqlFile) -> Any:
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
                raise not_utf8(sql, field.name) from None
    return batch
