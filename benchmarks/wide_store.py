"""A lowops project on a wide SQLite store for the scoring benchmarks.

One mart of 20 features (12 numeric, 8 categorical) and a label, with two
small windows to train on (2025-01, hold-out 2025-02) and a large window
2025-03 of ``rows`` rows to score. Deterministic for a given seed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

NUMERIC = [f"n{i:02d}" for i in range(12)]
CATEGORICAL = [f"c{i:02d}" for i in range(8)]
LEVELS = [[f"l{j}" for j in range(3 + 2 * i)] for i in range(8)]

CONFIG = """\
project: bench
database:
  url: sqlite:///store.sqlite
repository: repo
windows: {{frequency: monthly}}
entity_key: id
features:
  marts:
    wide: sql/wide.sql
labels:
  sql: sql/labels.sql
  target: y
model:
  name: bench
  estimator:
    class: sklearn.ensemble.HistGradientBoostingClassifier
    params: {{max_iter: 100}}
train:
  windows: 2
  cv_folds: 0
compute:
  chunk_rows: {chunk_rows}
  n_jobs: -1
"""
WIDE_SQL = ("SELECT id, " + ", ".join(NUMERIC + CATEGORICAL) + "\nFROM wide\n"
            "WHERE month >= :window_start AND month < :window_end\nORDER BY id\n")
LABEL_SQL = "SELECT id, y FROM wide\nWHERE month >= :window_start AND month < :window_end\nORDER BY id\n"


def _rows(rng: np.random.Generator, n: int, month: str, first_id: int):  # type: ignore[no-untyped-def]
    numeric = rng.normal(size=(n, len(NUMERIC))).round(4)
    cats = [rng.integers(0, len(levels), size=n) for levels in LEVELS]
    logit = numeric[:, 0] - 0.8 * numeric[:, 1] + 0.5 * (cats[0] == 1) - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    stamp = f"{month}-01 00:00:00.000000"
    columns = [np.arange(first_id, first_id + n), np.full(n, stamp, dtype=object)]
    columns += [numeric[:, i] for i in range(len(NUMERIC))]
    columns += [np.asarray(LEVELS[i], dtype=object)[cats[i]] for i in range(len(LEVELS))]
    columns.append(y)
    return zip(*(c.tolist() for c in columns))


def build(directory: Path, rows: int, *, chunk_rows: int = 50_000, train_rows: int = 50_000,
          seed: int = 7) -> Path:
    """Create the project and its store; return the project directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").mkdir(exist_ok=True)
    (directory / "sql").mkdir(exist_ok=True)
    (directory / "config" / "lowops.yaml").write_text(CONFIG.format(chunk_rows=chunk_rows))
    (directory / "sql" / "wide.sql").write_text(WIDE_SQL)
    (directory / "sql" / "labels.sql").write_text(LABEL_SQL)
    store = directory / "store.sqlite"
    store.unlink(missing_ok=True)
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(store)
    names = ["id", "month", *NUMERIC, *CATEGORICAL, "y"]
    con.execute(f"CREATE TABLE wide ({', '.join(names)})")
    insert = f"INSERT INTO wide VALUES ({', '.join('?' * len(names))})"
    next_id = 1
    for month, n in (("2025-01", train_rows), ("2025-02", train_rows), ("2025-03", rows)):
        for start in range(0, n, 200_000):
            size = min(200_000, n - start)
            con.executemany(insert, _rows(rng, size, month, next_id))
            next_id += size
    con.execute("CREATE INDEX wide_month ON wide (month, id)")
    con.commit()
    con.close()
    return directory


def lowops_bin() -> str:
    return str(Path(sys.executable).parent / "lowops")


def train(directory: Path) -> None:
    subprocess.run([lowops_bin(), "-C", str(directory), "train", "--window", "2025-02"], check=True,
                   capture_output=True)


# A child's peak RSS from wait4 is never below the RSS of the process that forked it: Linux carries the
# old image's high-water mark through exec. A benchmark that holds a million scores (or built the store
# in-process) would lend its own size to every contender, so each is started by a launcher of its own,
# a fresh interpreter of a few MB, and the launcher reports what wait4 measured.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
               "code": os.waitstatus_to_exitcode(status)}, out)
"""


def launch(argv: list[str], *, stdout: object = None, stderr: object = None,
           env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``argv`` to its end from a small launcher: its wall and CPU seconds, peak MB and exit code."""
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "usage.json")
        subprocess.run([sys.executable, "-c", _LAUNCHER, report, *map(str, argv)], stdout=stdout, stderr=stderr,
                       env=env, check=True)
        with open(report, encoding="utf-8") as handle:
            usage: dict[str, float] = json.load(handle)
    return usage
