"""Scale benchmark: `lowops score` time and peak memory at 100k, 1M and 5M rows.

Time should grow linearly with the rows, and peak memory stay flat: it is set
by `compute.chunk_rows`, not by the window. Each size is its own SQLite store
and project (built once into --workdir and reused); each measurement is a
fresh `lowops score` process (extract + score), measured with wait4.

Usage:
  .venv/bin/python benchmarks/scale.py [--sizes 100000,1000000,5000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wide_store  # noqa: E402


def measure(argv: list[str]) -> tuple[float, float]:
    with tempfile.TemporaryFile() as err:
        usage = wide_store.launch(argv, stdout=subprocess.DEVNULL, stderr=err)
        if usage["code"] != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed:\n{err.read().decode()[-2000:]}")
    return usage["wall"], usage["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lowops-bench-scale-"))
    rows_list = [int(s) for s in args.sizes.split(",")]
    results = []
    for rows in rows_list:
        project = work / f"wide-{rows}"
        if not (project / "repo" / "models").exists():
            print(f"building {rows:,} rows in {project} …", flush=True)
            shutil.rmtree(project, ignore_errors=True)
            wide_store.build(project, rows, chunk_rows=args.chunk_rows)
            wide_store.train(project)
        shutil.rmtree(project / "repo" / "data" / "2025-03", ignore_errors=True)
        wall, rss = measure([wide_store.lowops_bin(), "-C", str(project), "score", "--window", "2025-03"])
        results.append((rows, wall, rss))
        print(f"{rows:>10,} rows  {wall:8.2f} s  {rss:8.0f} MB peak", flush=True)
    base_rows, base_wall, base_rss = results[0]
    print(f"\n{'rows':>10} {'wall s':>8} {'s per 1M rows':>14} {'peak MB':>8} {'memory vs smallest':>19}")
    for rows, wall, rss in results:
        print(f"{rows:>10,} {wall:>8.2f} {wall / rows * 1e6:>14.2f} {rss:>8.0f} {rss / base_rss:>18.2f}x")
    by_size = {rows: (wall, rss) for rows, wall, rss in results}
    if 1_000_000 in by_size and 5_000_000 in by_size:
        ratio = by_size[5_000_000][1] / by_size[1_000_000][1]
        print(f"\npeak memory at 5M rows is {ratio:.2f}x that at 1M (target: within 1.2x); "
              f"time per row at 5M is {by_size[5_000_000][0] / 5 / by_size[1_000_000][0]:.2f}x that at 1M "
              "(1.00 = linear)")


if __name__ == "__main__":
    main()
