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

from lowops.errors import ConfigError


class Bounded(Protocol):
    """Anything with half-open UTC bounds, as a window has."""

    def bounds_naive_utc(self) -> tuple[datetime, datetime]: ...


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
