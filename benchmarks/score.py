"""Scoring benchmark: `lowops score` against the bare minimum, MLflow and the model's own floor.

One window of N rows x 20 columns (12 numeric, 8 categorical) in SQLite, one
fitted HistGradientBoosting pipeline (trained by lowops, so every contender
scores the very same model). Each contender runs in its own process; wall time
and that process's peak RSS are measured with wait4, in the same run.

  bare      read_sql -> the same pipeline's predict_proba -> to_csv (what a person writes)
  mlflow    the same model saved as an MLflow pyfunc (predict_proba), loaded and applied the same way
  floor     the pipeline's predict_proba on the rows already in memory (timed alone); also
            the estimator alone on the matrix its pipeline builds, 16,384 rows a call
            (preprocessing excluded: the compute no scoring path can skip)
  lowops    `lowops score --window 2025-03`: extract into the versioned snapshot and score
            in one pass (each chunk scored as it is staged) + CSV
  lowops*   the same with the window's snapshot already extracted (score + CSV only)

Usage:
  .venv/bin/python benchmarks/score.py [--rows 1000000] [--repeat 1]
  (MLflow: bash benchmarks/setup_mlflow.sh first; skipped with a note when absent)
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

BARE = r"""
import sys, time, skops.io as sio, pandas as pd, sqlalchemy as sa
store, model_path, out, sql_path = sys.argv[1:5]
engine = sa.create_engine(f"sqlite:///{store}")
sql = open(sql_path).read()
df = pd.read_sql(sa.text(sql), engine, params={"window_start": "2025-03-01 00:00:00.000000",
                                               "window_end": "2025-04-01 00:00:00.000000"})
model = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
features = [c for c in df.columns if c != "id"]
df["score"] = model.predict_proba(df[features])[:, 1]
df.to_csv(out, index=False)
"""

FLOOR = r"""
import sys, time, skops.io as sio, pandas as pd, sqlalchemy as sa
store, model_path, sql_path = sys.argv[1:4]
engine = sa.create_engine(f"sqlite:///{store}")
df = pd.read_sql(sa.text(open(sql_path).read()), engine,
                 params={"window_start": "2025-03-01 00:00:00.000000", "window_end": "2025-04-01 00:00:00.000000"})
model = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
features = [c for c in df.columns if c != "id"]
x = df[features]
start = time.perf_counter()
model.predict_proba(x)
whole = time.perf_counter() - start
# The estimator alone on the matrix its pipeline builds, 16,384 rows a call (as lowops calls it):
# the compute no scoring path can skip.
matrix = model[:-1].transform(x)
start = time.perf_counter()
for low in range(0, len(matrix), 16384):
    model[-1].predict_proba(matrix[low:low + 16384])
print(whole, time.perf_counter() - start)
"""

MLFLOW_SAVE = r"""
import sys, skops.io as sio, mlflow.sklearn
model = sio.load(sys.argv[1], trusted=sio.get_untrusted_types(file=sys.argv[1]))
mlflow.sklearn.save_model(model, sys.argv[2], pyfunc_predict_fn="predict_proba",
                         serialization_format="cloudpickle")
"""

MLFLOW = r"""
import sys, mlflow.pyfunc, pandas as pd, sqlalchemy as sa
store, model_dir, out, sql_path = sys.argv[1:5]
model = mlflow.pyfunc.load_model(model_dir)
engine = sa.create_engine(f"sqlite:///{store}")
df = pd.read_sql(sa.text(open(sql_path).read()), engine,
                 params={"window_start": "2025-03-01 00:00:00.000000", "window_end": "2025-04-01 00:00:00.000000"})
features = [c for c in df.columns if c != "id"]
df["score"] = pd.DataFrame(model.predict(df[features])).iloc[:, 1].to_numpy()
df.to_csv(out, index=False)
"""


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])}… failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the generated project here")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="lowops-bench-score-"))
    project = work / f"wide-{args.rows}"
    python = sys.executable
    if not (project / "repo" / "models").exists():
        print(f"building a {args.rows:,}-row window in {project} …", flush=True)
        shutil.rmtree(project, ignore_errors=True)
        wide_store.build(project, args.rows, chunk_rows=args.chunk_rows)
        wide_store.train(project)
    store = project / "store.sqlite"
    model_path = project / "repo" / "models" / "bench" / "v0001" / "model.skops"
    sql_path = project / "sql" / "wide.sql"
    lowops = wide_store.lowops_bin()

    results: dict[str, tuple[float, float]] = {}
    shutil.rmtree(project / "repo" / "data" / "2025-03", ignore_errors=True)
    wall, rss, _ = measure([lowops, "-C", str(project), "score", "--window", "2025-03"])
    results["lowops"] = (wall, rss)
    wall, rss, _ = measure([lowops, "-C", str(project), "score", "--window", "2025-03"])
    results["lowops (snapshot present)"] = (wall, rss)
    wall, rss, _ = measure([python, "-c", BARE, str(store), str(model_path), str(work / "bare.csv"), str(sql_path)])
    results["bare minimum"] = (wall, rss)
    _, _, out = measure([python, "-c", FLOOR, str(store), str(model_path), str(sql_path)])
    floor, estimator_only = (float(v) for v in out.split())

    mlflow_py = HERE / ".venv-mlflow" / "bin" / "python"
    if mlflow_py.exists():
        model_dir = work / "mlflow-model"
        shutil.rmtree(model_dir, ignore_errors=True)
        measure([str(mlflow_py), "-c", MLFLOW_SAVE, str(model_path), str(model_dir)])
        wall, rss, _ = measure([str(mlflow_py), "-c", MLFLOW, str(store), str(model_dir),
                                str(work / "mlflow.csv"), str(sql_path)])
        results["mlflow pyfunc"] = (wall, rss)
    else:
        print("(MLflow not measured: run bash benchmarks/setup_mlflow.sh)")

    lw, lm = results["lowops"]
    print(f"\nscoring {args.rows:,} rows x 20 columns from SQLite, chunk_rows={args.chunk_rows:,}, "
          f"{os.cpu_count()} cores")
    print(f"{'contender':<28} {'wall s':>8} {'peak MB':>9} {'lowops speed-up':>16} {'lowops memory':>14}")
    for name, (wall, rss) in results.items():
        print(f"{name:<28} {wall:>8.2f} {rss:>9.0f} {wall / lw:>15.2f}x {lm / rss:>13.2f}x")
    print(f"{'floor: predict_proba only':<28} {floor:>8.2f} {'':>9} {floor / lw:>15.2f}x")
    print(f"{'estimator only, in blocks':<28} {estimator_only:>8.2f} {'':>9} {estimator_only / lw:>15.2f}x")
    print(f"\nlowops vs bare minimum: {results['bare minimum'][0] / lw:.2f}x faster (target >= 2), "
          f"peak memory {lm / results['bare minimum'][1]:.2f} of it (target < 0.33)")
    print(f"lowops vs floor: {lw / floor:.2f}x the model's own predict_proba (target <= 1.3); "
          f"with the snapshot present {results['lowops (snapshot present)'][0] / floor:.2f}x")
    print(f"lowops vs the estimator alone on its prebuilt matrix: {lw / estimator_only:.2f}x; "
          f"with the snapshot present {results['lowops (snapshot present)'][0] / estimator_only:.2f}x")
    if "mlflow pyfunc" in results:
        print(f"lowops vs MLflow: {results['mlflow pyfunc'][0] / lw:.2f}x faster (target > 1)")


if __name__ == "__main__":
    main()
