"""The suite's database servers, and a private schema or database on one of them for a test.

The servers are the ones the README names (PostgreSQL on 127.0.0.1:5432, trust
auth, database ``test``; MariaDB on 127.0.0.1:3306, root without a password,
database ``test``); ``LOWOPS_TEST_POSTGRES_URL`` / ``LOWOPS_TEST_MARIADB_URL``
point elsewhere. Each user works in its own PostgreSQL schema or MariaDB
database, dropped afterwards, so parallel runs never meet. A test skips only
when its server does not answer; a missing driver is a failure.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

SERVERS = {
    "postgresql": os.environ.get("LOWOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("LOWOPS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def unanswered(url: str) -> str | None:
    """Why the server at ``url`` does not answer, or None when it does (a missing driver raises)."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa_exc.OperationalError as exc:
        return str(exc.orig).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


@contextlib.contextmanager
def scratch(kind: str) -> Iterator[str]:
    """A private schema (PostgreSQL) or database (MariaDB), dropped afterwards; its URL."""
    admin = SERVERS[kind]
    reason = unanswered(admin)
    if reason is not None:
        pytest.skip(f"{kind} at {sa.make_url(admin).render_as_string(hide_password=True)} does not answer "
                    f"({reason}); start it (see .ci/run) to run these tests")
    name = f"lowops_t{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    url = sa.make_url(admin)
    with engine.connect() as conn:
        if kind == "postgresql":
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
            scoped = url.update_query_dict({"options": f"-csearch_path={name}"})
        else:
            conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
            scoped = url.set(database=name)
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            else:
                conn.execute(sa.text(f"DROP DATABASE `{name}`"))
        engine.dispose()
