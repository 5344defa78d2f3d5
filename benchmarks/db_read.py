"""Reading one window from a real server: lowops's readers against each other, same query, same run.

A table of N rows x 20 columns (1 key, 1 DATETIME month, 8 DOUBLE, 6 INT, 4
VARCHAR) is generated inside the server (MariaDB's SEQUENCE engine,
PostgreSQL's generate_series), then one window covering every row is read
with ``ORDER BY id`` in chunks of 50,000 rows, each chunk turned into a pandas
DataFrame (what the extract stage consumes). Each reader runs in its own
process; wall time (best of --repeat) and that process's peak RSS are measured.

  sqlalchemy   Database.read_frames: the DBAPI driver's server-side cursor (PyMySQL,
               psycopg 3), the window bound as parameters; lowops's fallback for any URL
  lowops       Database.stream, what extract uses: ConnectorX for MariaDB, ADBC for
               PostgreSQL (COPY), both with the window rendered by SQLAlchemy's literal
               compilation (ConnectorX cannot bind; bound, ADBC cannot use COPY)
  adbc_bound   PostgreSQL only: ADBC with the window bound ($1, $2): no COPY, the whole
               result is held by libpq before the first batch
  connectorx   PostgreSQL only: ConnectorX for comparison with ADBC

Before timing, every reader's whole result is checked equal to the SQLAlchemy one.

Usage (servers as in the README; `pip install 'lowops[postgres,mysql]'`):
  .venv/bin/python benchmarks/db_read.py [--rows 1000000] [--repeat 3] [--only mariadb|postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SERVERS = {
    "mariadb": {
        "admin": "mysql+pymysql://root@127.0.0.1:3306/test",
        "url": "mysql+pymysql://root@127.0.0.1:3306/lowops_bench",
        "cx": "mysql://root@127.0.0.1:3306/lowops_bench",
        "readers": ("sqlalchemy", "lowops"),
    },
    "postgres": {
        "admin": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "url": "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dlowops_bench",
        "cx": "postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dlowops_bench",
        "readers": ("sqlalchemy", "lowops", "adbc_bound", "connectorx"),
    },
}

QUERY = """SELECT id, month, d1, d2, d3, d4, d5, d6, d7, d8, i1, i2, i3, i4, i5, i6, s1, s2, s3, s4
FROM bench_wide
WHERE month >= :window_start AND month < :window_end
ORDER BY id"""

_DDL = {
    "mariadb": [
        "CREATE DATABASE IF NOT EXISTS lowops_bench",
        "DROP TABLE IF EXISTS lowops_bench.bench_wide",
        "CREATE TABLE lowops_bench.bench_wide (id INT PRIMARY KEY, month DATETIME NOT NULL, "
        + ", ".join(f"d{i} DOUBLE" for i in range(1, 9)) + ", "
        + ", ".join(f"i{i} INT" for i in range(1, 7)) + ", "
        + ", ".join(f"s{i} VARCHAR(32)" for i in range(1, 5)) + ")",
        "INSERT INTO lowops_bench.bench_wide SELECT seq, TIMESTAMP('2025-03-01'), "
        + ", ".join(f"MOD(seq * {7 + i}, 100003) / 97.0" for i in range(1, 9)) + ", "
        + ", ".join(f"MOD(seq * {3 + i}, 1009)" for i in range(1, 7)) + ", "
        + ", ".join(f"CONCAT('cat-', MOD(seq * {11 + i}, 37))" for i in range(1, 5))
        + " FROM seq_1_to_{rows}",
    ],
    "postgres": [
        "CREATE SCHEMA IF NOT EXISTS lowops_bench",
        "DROP TABLE IF EXISTS lowops_bench.bench_wide",
        "CREATE TABLE lowops_bench.bench_wide (id INT PRIMARY KEY, month TIMESTAMP NOT NULL, "
        + ", ".join(f"d{i} DOUBLE PRECISION" for i in range(1, 9)) + ", "
        + ", ".join(f"i{i} INT" for i in range(1, 7)) + ", "
        + ", ".join(f"s{i} VARCHAR(32)" for i in range(1, 5)) + ")",
        "INSERT INTO lowops_bench.bench_wide SELECT s, TIMESTAMP '2025-03-01', "
        + ", ".join(f"MOD(s::bigint * {7 + i}, 100003) / 97.0" for i in range(1, 9)) + ", "
        + ", ".join(f"MOD(s::bigint * {3 + i}, 1009)" for i in range(1, 7)) + ", "
        + ", ".join(f"'cat-' || MOD(s::bigint * {11 + i}, 37)" for i in range(1, 5))
        + " FROM generate_series(1, {rows}) AS s",
        "ANALYZE lowops_bench.bench_wide",
    ],
}

READER = r"""
import sys, time
from pathlib import Path
server, reader, url, cx_url, query_file, rows = sys.argv[1:7]
rows = int(rows)
from lowops.io.db import Database, read_sql_file
from lowops.windows import parse_window
sql = read_sql_file(Path(query_file), "bench")
window = parse_window("2025-03")
db = Database(url, Path("."))
started = time.perf_counter()
seen = 0
if reader == "sqlalchemy":
    for frame in db.read_frames(sql, window, 50_000):
        seen += len(frame)
elif reader == "lowops":
    for frame in db.stream(sql, window, 50_000):
        seen += len(frame)
elif reader == "adbc_bound":
    import adbc_driver_postgresql.dbapi as adbc
    from sqlalchemy.dialects import postgresql
    from lowops.io.arrow_db import postgres_uri
    stmt, values = db._statement(sql, window)
    compiled = stmt.compile(dialect=postgresql.dialect(paramstyle="numeric_dollar"))
    conn = adbc.connect(postgres_uri(db.url))
    cursor = conn.cursor()
    cursor.execute(compiled.string, [values[name] for name in dict.fromkeys(compiled.positiontup)])
    for batch in cursor.fetch_record_batch():
        for start in range(0, batch.num_rows, 50_000):
            seen += len(batch.slice(start, 50_000).to_pandas())
    conn.close()
else:
    import connectorx as cx
    text = db.literal_sql(sql, window)
    for batch in cx.read_sql(cx_url, text, return_type="arrow_stream", batch_size=50_000):
        seen += len(batch.to_pandas())
assert seen == rows, (seen, rows)
print(f"{time.perf_counter() - started:.3f}")
"""

CHECK = r"""
import sys
from pathlib import Path
import pandas as pd
server, url, cx_url, query_file = sys.argv[1:5]
readers = sys.argv[5:]
from lowops.io.db import Database, read_sql_file
from lowops.windows import parse_window
sql = read_sql_file(Path(query_file), "bench")
window = parse_window("2025-03")
db = Database(url, Path("."))
base = pd.concat(list(db.read_frames(sql, window, 200_000)), ignore_index=True)
def normal(frame):
    frame = frame.copy()
    for column in frame.columns:
        if column == "month":
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[us]")
        elif frame[column].dtype.kind in "iuf":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype(object)
    return frame
for reader in readers:
    if reader == "adbc_bound":
        continue
    if reader == "lowops":
        got = pd.concat(list(db.stream(sql, window, 200_000)), ignore_index=True)
    else:
        import connectorx as cx
        got = cx.read_sql(cx_url, db.literal_sql(sql, window), return_type="arrow").to_pandas()
    pd.testing.assert_frame_equal(normal(base), normal(got), check_exact=True)
    print(f"{server}: {reader} returns the same {len(got)} rows as sqlalchemy")
"""


def _wait(cmd: list[str]) -> tuple[str, float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{err}")
    return out.strip(), wall, usage.ru_maxrss / 1024


def _generate(server: str, rows: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(SERVERS[server]["admin"])
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in _DDL[server]:
            conn.exec_driver_sql(statement.replace("{rows}", str(rows)))
    engine.dispose()
    print(f"{server}: generated {rows:,} rows x 20 columns in {time.perf_counter() - started:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=sorted(SERVERS))
    args = parser.parse_args()
    work = Path(__file__).resolve().parent / ".work"
    work.mkdir(exist_ok=True)
    query = work / "db_read.sql"
    query.write_text(QUERY + "\n", encoding="utf-8")
    for server, spec in SERVERS.items():
        if args.only and server != args.only:
            continue
        _generate(server, args.rows)
        others = [r for r in spec["readers"] if r != "sqlalchemy"]
        out, _, _ = _wait([sys.executable, "-c", CHECK, server, spec["url"], spec["cx"], str(query), *others])
        print(out)
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for reader in spec["readers"]:
                inner, wall, rss = _wait([sys.executable, "-c", READER, server, reader, spec["url"], spec["cx"],
                                          str(query), str(args.rows)])
                if reader not in best or float(inner) < best[reader][0]:
                    best[reader] = (float(inner), rss)
        base = best["sqlalchemy"][0]
        for reader, (seconds, rss) in best.items():
            print(f"{server:8s} {reader:11s} {seconds:7.2f} s  peak {rss:7.0f} MB  "
                  f"speed-up vs sqlalchemy {base / seconds:5.2f}x")


if __name__ == "__main__":
    main()
