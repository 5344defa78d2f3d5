"""The whole loop against real PostgreSQL and MariaDB servers, checked against the SQLite run.

The servers are the ones the README names (PostgreSQL on 127.0.0.1:5432, trust
auth, database ``test``; MariaDB on 127.0.0.1:3306, root without a password,
database ``test``); ``LOWOPS_TEST_POSTGRES_URL`` / ``LOWOPS_TEST_MARIADB_URL``
point elsewhere. Each session works in its own PostgreSQL schema and its own
MariaDB database, dropped at the end, so parallel runs never meet. A test
skips only when its server does not answer; a missing driver is a failure
(``scripts/test.sh`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import PATIENCE, copy_project, invoke
from db_support import scratch
from reliability_support import CUSTOMERS, fast_template

from lowops.io import arrow_db, snapshots
from lowops.io.db import Database, read_sql_file, render_literal
from lowops.windows import parse_window

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ("2025-01", "2025-02")
TABLES = ("customer_profile", "usage_monthly", "billing_monthly", "churn_labels")
SQL_FILES = ("sql/profile.sql", "sql/usage.sql", "sql/billing.sql", "sql/labels.sql", "sql/golden.sql")


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """One OpenMP thread for the boosting model: on a busy 2-core machine its spinning threads cost 40x."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    with scratch("postgresql") as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    with scratch("mariadb") as url:
        yield url


def _backfill(project: Path, env: dict[str, str] | None = None) -> None:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # session fixtures run outside the autouse fixture
        done = invoke(project, "backfill", "--from", WINDOWS[0], "--to", WINDOWS[-1], env=env)
    assert done.exit_code == 0, done.output


@pytest.fixture(scope="session")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reliability suites' fast project (500 customers, a linear model): what the servers must equal does
    not depend on the size, and each server loads its demo store row by row."""
    return fast_template(tmp_path_factory)


@pytest.fixture(scope="session")
def sqlite_run(small_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fast demo project's loop over two windows on its SQLite store: the reference."""
    project = copy_project(small_template, tmp_path_factory.mktemp("sqlite") / "churn")
    _backfill(project)
    return project


def _server_run(url: str, small_template: Path, target: Path) -> Path:
    """The same project, its demo store loaded into the server by `lowops init --demo-url`, the same loop."""
    project = copy_project(small_template, target)
    shutil.rmtree(project / "demo")  # nothing may come from the SQLite store
    done = invoke(project, "init", "--demo-only", "--customers", str(CUSTOMERS), "--demo-url", url)
    assert done.exit_code == 0, done.output
    masked = sa.make_url(url).render_as_string(hide_password=True)
    rows = 15 * CUSTOMERS
    assert done.stdout.splitlines()[0] == (f"demo store {masked}: customer_profile {rows}, usage_monthly {rows}, "
                                           f"billing_monthly {rows}, churn_labels {rows} rows")
    env = {"LOWOPS_DB_URL": url}
    done = invoke(project, "validate", env=env)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[-1] == "ready"
    _backfill(project, env)
    return project


@pytest.fixture(scope="session")
def postgresql_run(postgresql_url: str, small_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _server_run(postgresql_url, small_template, tmp_path_factory.mktemp("postgresql") / "churn")


@pytest.fixture(scope="session")
def mariadb_run(mariadb_url: str, small_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _server_run(mariadb_url, small_template, tmp_path_factory.mktemp("mariadb") / "churn")


def _without_scored_at(path: Path) -> str:
    """The predictions CSV minus its last column, the wall-clock time it was written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(',"run_id","scored_at"')
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


def _assert_same_loop(server: Path, sqlite: Path, url: str) -> None:
    for window in WINDOWS:
        for kind in ("features", "labels"):
            mine = snapshots.latest(server / "repo", window, kind, "churn")
            theirs = snapshots.latest(sqlite / "repo", window, kind, "churn")
            assert mine is not None and theirs is not None
            assert mine.rows == theirs.rows == CUSTOMERS
            pd.testing.assert_frame_equal(snapshots.load(mine), snapshots.load(theirs), check_dtype=False,
                                          check_exact=True)
        (mine_csv,) = (server / "repo" / "outputs" / window).glob("predictions-*.csv")
        (their_csv,) = (sqlite / "repo" / "outputs" / window).glob("predictions-*.csv")
        assert mine_csv.name == their_csv.name
        assert _without_scored_at(mine_csv) == _without_scored_at(their_csv)
    mine_kpis = [line.split()[1:7] for line in (server / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    their_kpis = [line.split()[1:7] for line in (sqlite / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    assert len(mine_kpis) >= 7 * len(WINDOWS)
    assert mine_kpis == their_kpis
    manifest = snapshots.latest(server / "repo", WINDOWS[0], "features", "churn").manifest  # type: ignore[union-attr]
    assert manifest["source"] == sa.make_url(url).render_as_string(hide_password=True)


def test_postgresql_loop_equals_sqlite(postgresql_run: Path, sqlite_run: Path, postgresql_url: str) -> None:
    _assert_same_loop(postgresql_run, sqlite_run, postgresql_url)


def test_mariadb_loop_equals_sqlite(mariadb_run: Path, sqlite_run: Path, mariadb_url: str) -> None:
    _assert_same_loop(mariadb_run, sqlite_run, mariadb_url)


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as plain Python objects per column, NaN and None alike: dtypes differ by driver, values may not."""
    return pd.DataFrame({c: [None if pd.isna(v) else (float(v) if isinstance(v, (int, float)) else v)
                             for v in frame[c].tolist()] for c in frame.columns})


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_arrow_reader_reads_what_sqlalchemy_reads(server: str, request: pytest.FixtureRequest) -> None:
    """ADBC (PostgreSQL, window bound) and ConnectorX (MariaDB, window rendered) against SQLAlchemy rows."""
    url = request.getfixturevalue(f"{server}_url")
    project = request.getfixturevalue(f"{server}_run")
    db = Database(url, project)
    assert arrow_db.available(db.url)
    window = parse_window("2025-02")
    for rel in SQL_FILES:
        sql = read_sql_file(project / rel, rel)
        stmt, values = db._statement(sql, window)
        # Straight through the Arrow driver: it raises rather than falling back.
        batches = list(arrow_db.read_batches(db.url, stmt, values, chunk_rows=200))
        assert [b.num_rows for b in batches] == ([200] if rel == "sql/golden.sql" else [200, 200, 100])
        arrow = pd.concat([b.to_pandas() for b in batches], ignore_index=True)
        rows = pd.concat(list(db.read_frames(sql, window, 200)), ignore_index=True)
        assert list(arrow.columns) == list(rows.columns)
        pd.testing.assert_frame_equal(_normal(arrow), _normal(rows), check_exact=True)
    db.dispose()


def test_connectorx_reads_in_a_read_only_session(mariadb_run: Path, mariadb_url: str, tmp_path: Path) -> None:
    sql_path = tmp_path / "ro.sql"
    sql_path.write_text("SELECT CAST(@@session.tx_read_only AS SIGNED) AS ro FROM churn_labels "
                        "WHERE month >= :window_start AND month < :window_end LIMIT 1\n")
    db = Database(mariadb_url, tmp_path)
    sql = read_sql_file(sql_path, "ro")
    stmt, values = db._statement(sql, parse_window("2025-01"))
    (batch,) = arrow_db.read_batches(db.url, stmt, values, chunk_rows=10)
    assert batch.column("ro").to_pylist() == [1]


def test_connectorx_url_drops_only_the_pymysql_charset() -> None:
    url = sa.make_url("mysql+pymysql://us%40r:p%40ss@db.internal:3307/dwh?charset=utf8mb4&prefer_socket=false")
    assert arrow_db.connectorx_uri(url) == "mysql://us%40r:p%40ss@db.internal:3307/dwh?prefer_socket=false"
    mariadb = sa.make_url("mariadb+pymysql://root@127.0.0.1/test")
    assert arrow_db.connectorx_uri(mariadb) == "mysql://root@127.0.0.1/test"


def test_adbc_uri_keeps_credentials_host_and_libpq_options() -> None:
    url = sa.make_url("postgresql+psycopg://us%40r:p%40ss%3Aw@db.internal:5433/dwh?options=-csearch_path%3Dx"
                      "&sslmode=disable")
    assert arrow_db.postgres_uri(url) == ("postgresql://us%40r:p%40ss%3Aw@db.internal:5433/dwh?"
                                          "options=-csearch_path%3Dx&sslmode=disable")
    assert arrow_db.postgres_uri(sa.make_url("postgresql+psycopg2:///dwh?host=/run/postgresql")) == (
        "postgresql:///dwh?host=%2Frun%2Fpostgresql")


def test_postgresql_bounds_are_rendered_so_adbc_can_stream_with_copy(tmp_path: Path) -> None:
    db = Database("postgresql+psycopg://lowops@db.internal/dwh", tmp_path)
    sql = read_sql_file(ROOT / "sql" / "usage.sql", "usage")
    stmt, values = db._statement(sql, parse_window("2025-03"))
    text, params = arrow_db._compile(db.url, stmt, values)
    assert params == []
    assert "WHERE month >= '2025-03-01 00:00:00' AND month < '2025-04-01 00:00:00'\n" in text
    assert "(about 1%)" in text  # the SQL stays as written otherwise


def test_only_the_parsed_window_is_ever_rendered_into_sql(tmp_path: Path) -> None:
    db = Database("mysql+pymysql://root@127.0.0.1/test", tmp_path)
    stmt, _ = db._statement(read_sql_file(ROOT / "sql" / "usage.sql", "usage"), parse_window("2025-03"))
    with pytest.raises(AssertionError, match="only the parsed window's datetime bounds"):
        render_literal(db.url, stmt, {"window_start": "2025-01-01' OR '1'='1", "window_end": "2025-02-01"})


def test_adbc_postgresql_connects_with_an_escaped_password(postgresql_url: str, tmp_path: Path) -> None:
    # Trust authentication ignores the password, so this checks that the URI survives the conversion.
    url = sa.make_url(postgresql_url).set(password="p@ss:w/rd%").render_as_string(hide_password=False)
    db = Database(url, tmp_path)
    sql = tmp_path / "one.sql"
    sql.write_text("SELECT customer_id FROM customer_profile WHERE month >= :window_start "
                   "AND month < :window_end ORDER BY customer_id LIMIT 3\n")
    query = read_sql_file(sql, "one")
    stmt, values = db._statement(query, parse_window("2025-01"))
    (batch,) = arrow_db.read_batches(db.url, stmt, values, chunk_rows=100)
    assert batch.column("customer_id").to_pylist() == [1, 2, 3]


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_window_literals_select_what_bound_parameters_select(server: str, request: pytest.FixtureRequest,
                                                             tmp_path: Path) -> None:
    """The dialect-rendered window (for drivers that cannot bind) selects exactly the bound window's rows."""
    url = request.getfixturevalue(f"{server}_url")
    request.getfixturevalue(f"{server}_run")  # the demo store is loaded
    db = Database(url, ROOT)
    sql = read_sql_file(ROOT / "sql" / "usage.sql", "usage")
    window = parse_window("2025-03")
    text = db.literal_sql(sql, window)
    assert "month >= '2025-03-01 00:00:00' AND month < '2025-04-01 00:00:00'" in text
    bound = pd.concat(list(db.read_frames(sql, window, 10_000)), ignore_index=True)
    with db.engine().connect() as conn:
        # Both DBAPI drivers read % as a placeholder even without parameters (the comment says "1%").
        literal = pd.DataFrame(conn.exec_driver_sql(text.replace("%", "%%")).fetchall(), columns=list(bound.columns))
    assert len(bound) == CUSTOMERS
    pd.testing.assert_frame_equal(_normal(literal), _normal(bound), check_exact=True)
    db.dispose()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_load_demo_script(server: str, tmp_path: Path) -> None:
    """scripts/load-demo-<server>.sh loads the store through `lowops init --demo-url` (LOWOPS_BIN: no install)."""
    script = ROOT / "scripts" / f"load-demo-{'postgres' if server == 'postgresql' else 'mariadb'}.sh"
    lowops_bin = Path(sys.executable).parent / "lowops"
    with scratch(server) as url:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LOWOPS_BIN": str(lowops_bin),
               "LOWOPS_DB_URL": url}
        done = subprocess.run(["bash", str(script), "--customers", "100"], env=env, capture_output=True,
                              text=True, timeout=PATIENCE)
        assert done.returncode == 0, done.stderr
        masked = sa.make_url(url).render_as_string(hide_password=True)
        assert done.stdout.splitlines()[0] == (f"demo store {masked}: customer_profile 1500, usage_monthly 1500, "
                                               "billing_monthly 1500, churn_labels 1500 rows")
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            counts = [conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one() for table in TABLES]
        engine.dispose()
        assert counts == [1500] * 4


def test_unreachable_server_is_exit_69_with_the_masked_url(project: Path) -> None:
    url = "postgresql+psycopg://lowops:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"
    done = invoke(project, "validate", env={"LOWOPS_DB_URL": url})
    assert done.exit_code == 69
    assert "s3cret-pw" not in done.output
    assert done.stderr.startswith("Error: Database postgresql+psycopg://lowops:***@127.0.0.1:1/test"
                                  "?connect_timeout=2 failed to answer: ")
