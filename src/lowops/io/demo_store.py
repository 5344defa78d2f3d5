"""The demo feature store written into a database: ``demo/store.sqlite`` or a server's ``test`` database.

The four tables of :mod:`lowops.demo` are replaced (dropped, created, loaded in
one transaction, indexed on ``(month)`` and ``(customer_id, month)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from lowops import secrets
from lowops.demo import COLUMNS, generate_demo_frames
from lowops.errors import ConfigError, DatabaseError
from lowops.io.db import Database


def _insert(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, chunk_rows: int) -> None:
    """Insert a frame with one executemany per chunk of the Core-compiled INSERT.

    Each column's bind processor (e.g. SQLite's DateTime to text) is applied once per distinct
    value, so the rows match what ``conn.execute(table.insert(), rows)`` would store at a
    fraction of its per-row cost.

    Args:
        conn: A connection inside the load transaction.
        table: The target table.
        frame: One of the demo frames, with exactly the table's columns.
        chunk_rows: Rows per executemany call.
    """
    compiled = table.insert().compile(dialect=conn.dialect)
    columns: dict[str, list[object]] = {}
    for column in table.columns:
        series = frame[column.name]
        if series.dtype.kind == "M":
            values: list[object] = pd.DatetimeIndex(series).to_pydatetime().tolist()
        else:
            values = [None if v != v else v for v in series.tolist()]  # NaN becomes NULL
        process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            cache = {value: process(value) for value in set(values)}
            values = [cache[value] for value in values]
        columns[column.name] = values
    if compiled.positional:
        rows: list[object] = list(zip(*(columns[name] for name in compiled.positiontup or []), strict=True))
    else:
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    for start in range(0, len(rows), chunk_rows):
        conn.exec_driver_sql(compiled.string, rows[start:start + chunk_rows])


def write_demo_store(url: str, customers: int = 24_000, seed: int = 20250101,
                     chunk_rows: int = 50_000) -> dict[str, int]:
    """Create (replace) the four tables in the database at SQLAlchemy `url`, return rows per table.

    Args:
        url: SQLAlchemy database URL (SQLite, PostgreSQL or MariaDB).
        customers: Active customers in every month.
        seed: Seed of the generator, see :func:`generate_demo_frames`.
        chunk_rows: Rows per INSERT batch.

    Returns:
        Table name to the number of rows written.

    Tables are dropped first if they exist, loaded in one transaction, then indexed on
    ``(month)`` and ``(customer_id, month)``.
    """
    frames = generate_demo_frames(customers=customers, seed=seed)
    metadata = sa.MetaData()
    types: dict[str, sa.types.TypeEngine[Any]] = {  # precision 53: DOUBLE on MariaDB, not FLOAT
        "str": sa.String(32), "int": sa.Integer(), "float": sa.Float(precision=53)}
    tables = {
        name: sa.Table(name, metadata, sa.Column("customer_id", sa.Integer(), nullable=False),
                       sa.Column("month", sa.DateTime(), nullable=False),  # naive, meaning UTC
                       *(sa.Column(column, types[kind]) for column, kind in columns))
        for name, columns in COLUMNS.items()
    }
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn, checkfirst=True)
            metadata.create_all(conn)
            for name, table in tables.items():
                _insert(conn, table, frames[name], chunk_rows)
                sa.Index(f"ix_{name}_month", table.c.month).create(conn)
                sa.Index(f"ix_{name}_customer_month", table.c.customer_id, table.c.month).create(conn)
    finally:
        engine.dispose()
    return {name: len(frame) for name, frame in frames.items()}


def build_demo_store(project_dir: Path, *, customers: int = 24_000, url: str | None = None) -> dict[str, int]:
    """Write the demo store to ``<project>/demo/store.sqlite``, or into the database at ``url``.

    Either way its four tables are replaced. A server URL (PostgreSQL, MariaDB)
    loads into the database, and the schema its search path names, as given.

    Raises:
        ConfigError: ``url`` is not a SQLAlchemy URL, or its driver is not installed.
        DatabaseError: the database does not answer or refuses the load.
    """
    if url is not None:
        return _load_demo(project_dir, url, customers)
    store = project_dir / "demo" / "store.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    if store.exists():
        store.unlink()
    return write_demo_store(f"sqlite:///{store}", customers=customers)


def _load_demo(project_dir: Path, url: str, customers: int) -> dict[str, int]:
    db = Database(url, project_dir)  # parses, resolves a relative SQLite path, registers the password
    try:
        return write_demo_store(db.url.render_as_string(hide_password=False), customers=customers)
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"Cannot use database {db.masked_url}: {secrets.redact(str(exc))}. "
            "Install the driver (e.g. pip install 'lowops[postgres]' or 'lowops[mysql]')."
        ) from None
    except sa_exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        detail = secrets.redact(str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__)
        raise DatabaseError(f"Database {db.masked_url} failed to load the demo store: {detail}") from None
