"""SQL files: read once, checked, and bound to a window; the text is the user's, values are bound.

A query file must be one read-only SELECT (or WITH … SELECT) whose only
parameters are ``:window_start`` and ``:window_end``. A ``:word`` inside a
string literal or comment is refused, since the driver would bind it. The
bounds reach the database as bound parameters typed ``DateTime``; for the
drivers that cannot bind (ConnectorX, ADBC PostgreSQL's COPY) SQLAlchemy's
literal compilation for the dialect renders them, from the parsed window's
``datetime`` values, never from text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from lowops.errors import ConfigError


class Bounded(Protocol):
    """Anything with half-open UTC bounds, as a window has."""

    def bounds_naive_utc(self) -> tuple[datetime, datetime]: ...


WINDOW_PARAMS = ("window_start", "window_end")
# SQLAlchemy's own pattern for a named parameter in text(): it knows nothing of
# quotes or comments, so a ':word' inside a literal would be bound too.
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
# Words that make a statement write, lock or change the session, wherever they stand as code.
_WRITE_WORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "DROP", "ALTER", "CREATE", "TRUNCATE", "GRANT", "REVOKE", "ATTACH",
    "DETACH", "PRAGMA", "VACUUM", "COPY", "CALL", "EXEC", "EXECUTE", "LOCK", "INTO", "LOAD_EXTENSION",
})
_LOCKING = frozenset({"UPDATE", "SHARE", "NO", "KEY"})  # after FOR: SELECT … FOR UPDATE / SHARE
# What a database reads as data or a name, never as code: the dialect's tokenizer says where they end.
_DATA_TOKENS = frozenset(getattr(TokenType, name) for name in (
    "STRING", "IDENTIFIER", "NATIONAL_STRING", "HEX_STRING", "BIT_STRING", "BYTE_STRING", "RAW_STRING",
    "HEREDOC_STRING", "UNICODE_STRING") if hasattr(TokenType, name))
# sqlglot's names for the dialects of SQLAlchemy's backends.
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}


@dataclass(frozen=True)
class SqlFile:
    """A query read from a file: its text, digest and the parameters it binds."""

    path: Path
    text: str
    sha256: str
    params: tuple[str, ...]


def _tokens(text: str, dialect: str | None, where: str) -> list[Token]:
    """The query's tokens as the database's own dialect reads it (comments left out).

    Raises:
        ConfigError: the text cannot be read as SQL of that dialect.
    """
    try:
        return list(Dialect.get_or_raise(_DIALECTS.get(dialect or "", "")).tokenize(text))
    except TokenError as exc:
        raise ConfigError(f"{where} cannot be read as {dialect or 'SQL'}: {str(exc).splitlines()[0]}.") from None


def _read_only(tokens: list[Token], where: str) -> None:
    """One SELECT (or WITH … SELECT) statement with no word that writes, as code, anywhere.

    Raises:
        ConfigError: several statements, another kind of statement, or a write clause.
    """
    code = [t for t in tokens if t.token_type not in _DATA_TOKENS]
    if code and code[-1].token_type == TokenType.SEMICOLON:  # one closing semicolon is fine
        code.pop()
    if not code:
        raise ConfigError(f"{where} holds no query.")
    if any(t.token_type == TokenType.SEMICOLON for t in code):
        raise ConfigError(f"{where} holds several statements; keep one SELECT per file.")
    first = next((t for t in code if t.token_type != TokenType.L_PAREN), code[0])
    words = [t.text.upper() for t in code]
    locking = any(word == "FOR" and after in _LOCKING for word, after in zip(words, words[1:], strict=False))
    if first.text.upper() not in ("SELECT", "WITH") or locking or _WRITE_WORDS.intersection(words):
        raise ConfigError(f"{where} must be a single read-only SELECT (or WITH … SELECT) query.")


def _one_query(text: str, dialect: str | None, where: str) -> None:
    """A second opinion from sqlglot's parser: one query, no statement that writes inside it.

    sqlglot cannot parse every dialect's every construct; where it cannot, the token
    check above (which it always passes first) is the gate.
    """
    try:
        statements = [s for s in sqlglot.parse(text, read=_DIALECTS.get(dialect or "", "")) if s is not None]
    except ParseError:
        return
    writes = tuple(getattr(exp, name) for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Pragma", "Into", "Lock",
        "TruncateTable", "Copy", "Grant", "Set", "Use") if hasattr(exp, name))
    if len(statements) != 1 or not isinstance(statements[0], exp.Query) or \
            any(isinstance(node, writes) for node in statements[0].walk()):
        raise ConfigError(f"{where} must be a single read-only SELECT (or WITH … SELECT) query.")


def _parameters(text: str, tokens: list[Token], where: str) -> tuple[str, ...]:
    """The ``:name`` parameters SQLAlchemy will bind, each of them a parameter in the query itself.

    Raises:
        ConfigError: a ``:name`` inside a literal, a quoted name or a comment (SQLAlchemy would bind it
            there too), or a parameter other than the window bounds.
    """
    real = [b.text for a, b in zip(tokens, tokens[1:], strict=False)
            if a.token_type == TokenType.COLON and b.token_type == TokenType.VAR and a.end + 1 == b.start]
    bound = _PARAM.findall(text)
    misbound = [name for name in dict.fromkeys(bound) if bound.count(name) > real.count(name)]
    if misbound:
        raise ConfigError(f"{where} has :{misbound[0]} inside a string literal or comment, where it would be "
                          "bound as a parameter; write \\: for a literal colon.")
    params = tuple(dict.fromkeys(bound))
    unknown = [p for p in params if p not in WINDOW_PARAMS]
    if unknown:
        raise ConfigError(f"{where} uses the parameter(s) {', '.join(':' + p for p in unknown)}; only "
                          ":window_start and :window_end are bound. Write a literal colon as \\: .")
    return params


def read_sql_file(path: Path, key: str, dialect: str | None = None) -> SqlFile:
    """Read and check one SQL file named by config key ``key``, as the database of ``dialect`` reads it.

    ``dialect`` is SQLAlchemy's backend name (``sqlite``, ``postgresql``, ``mysql``…); each quotes
    differently (``[…]``, backticks, ``$$…$$``), so the check tokenizes the way that database will.

    Raises:
        ConfigError: missing file, more than one statement, a statement that is
            not a SELECT, or a parameter other than the window bounds.
    """
    if not path.is_file():
        raise ConfigError(f"The SQL file {path} named by '{key}' does not exist; create it or fix the path.")
    text = path.read_text(encoding="utf-8")
    where = f"The SQL file {path} ('{key}')"
    tokens = _tokens(text, dialect, where)
    _read_only(tokens, where)
    _one_query(text, dialect, where)
    params = _parameters(text, tokens, where)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SqlFile(path=path, text=text, sha256=digest, params=params)


def render_literal(url: sa.URL, stmt: sa.TextClause, values: dict[str, Any]) -> str:
    """``stmt`` with its window bounds rendered as literals by the URL's dialect (see ``literal_sql``).

    Raises:
        AssertionError: a value is not a ``datetime`` (only window bounds are ever rendered).
    """
    if not all(type(value) is datetime for value in values.values()):
        raise AssertionError("only the parsed window's datetime bounds are rendered into SQL")
    dialect = url.get_dialect()(paramstyle="qmark")  # type: ignore[call-arg]
    compiled = stmt.bindparams(**values).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def statement(sql: SqlFile, window: Bounded | None) -> tuple[sa.TextClause, dict[str, Any]]:
    """The query as a SQLAlchemy text clause with its window bounds typed, and their values."""
    stmt = sa.text(sql.text)
    binds = [sa.bindparam(p, type_=sa.DateTime()) for p in sql.params]
    if binds:
        stmt = stmt.bindparams(*binds)
    values: dict[str, Any] = {}
    if window is not None:
        start, end = window.bounds_naive_utc()
        values = {k: v for k, v in (("window_start", start), ("window_end", end)) if k in sql.params}
    return stmt, values
