"""Scoring benchmark: `lowops score` against what people write by hand, MLflow, and the floor.

One window of N rows x 20 columns (12 numeric, 8 categorical) in SQLite, one
fitted HistGradientBoosting pipeline (trained by lowops, so every contender
scores the very same model). Each contender runs in its own process; its wall
time, CPU seconds (user + system of the process and its threads, from wait4's
rusage) and peak RSS are measured. Contenders run in turn, round after round
(``--repeat``), so a change of load hits each of them; min and median are printed.
Every contender's scores are checked equal to lowops's, row by row (to 1e-12):
a benchmark of different answers fails.

  lowops     `lowops score --window 2025-03`: extract into the versioned snapshot and score
             in one pass (each chunk scored as it is staged) + the 29-column predictions CSV
  lowops*    the same with the window's snapshot already present (score + CSV only)
  lowops/1   lowops with `compute.n_jobs: 1` (the same work at one thread)
  pandas     read_sql -> the pipeline's predict_proba -> to_csv (what a person writes first)
  adbc       ADBC's Arrow table -> the pipeline's predict_proba on its pandas frame ->
             pyarrow.csv (what a competent person writes)
  mlflow     the model saved as an MLflow pyfunc (predict_proba), loaded and applied as pandas
             does (bash benchmarks/setup_mlflow.sh first; skipped with a note when absent)
  floor      part by part, CPU seconds, in one process: the ADBC read; the model's input
             matrix built from Arrow (each text column's distinct values encoded once);
             the estimator alone at one thread on that prebuilt matrix; pyarrow.csv of
             lowops's 29 columns; the Parquet snapshot + its sha256; and, in a process of
             its own, start-up (Python, pyarrow, ADBC and the model load). No scoring path that
             keeps a snapshot and writes lowops's CSV can skip any of it.

The peers run with the environment as given (OpenMP's default waiting unless
OMP_WAIT_POLICY is set), as a person's script would. ``--busy N`` runs N
busy-looping processes beside the whole benchmark (a loaded server).

Usage:
  .venv/bin/python benchmarks/score.py [--rows 1000000] [--repeat 3] [--busy 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wide_store  # noqa: E402

WINDOW = ("2025-03-01 00:00:00.000000", "2025-04-01 00:00:00.000000")

PANDAS = r"""
import sys, joblib, pandas as pd, sqlalchemy as sa
store, model_path, out, sql_path = sys.argv[1:5]
engine = sa.create_engine(f"sqlite:///{store}")
df = pd.read_sql(sa.text(open(sql_path).read()), engine,
                 params={"window_start": sys.argv[5], "window_end": sys.argv[6]})
model = joblib.load(model_path)
features = [c for c in df.columns if c != "id"]
df["score"] = model.predict_proba(df[features])[:, 1]
df.to_csv(out, index=False)
"""

ADBC = r"""
import sys, joblib, pyarrow as pa, pyarrow.csv as csv, adbc_driver_sqlite.dbapi as adbc
store, model_path, out, sql_path = sys.argv[1:5]
sql = open(sql_path).read().replace(":window_start", "?").replace(":window_end", "?")
with adbc.connect(store) as con, con.cursor() as cur:
    cur.execute(sql, (sys.argv[5], sys.argv[6]))
    table = cur.fetch_arrow_table()
model = joblib.load(model_path)
features = [c for c in table.column_names if c != "id"]
score = model.predict_proba(table.select(features).to_pandas())[:, 1]
csv.write_csv(table.append_column("score", pa.array(score)), out)
"""

MLFLOW_SAVE = r"""
import sys, joblib, mlflow.sklearn
model = joblib.load(sys.argv[1])
mlflow.sklearn.save_model(model, sys.argv[2], pyfunc_predict_fn="predict_proba",
                         serialization_format="cloudpickle")
"""

MLFLOW = r"""
import sys, mlflow.pyfunc, pandas as pd, sqlalchemy as sa
store, model_dir, out, sql_path = sys.argv[1:5]
model = mlflow.pyfunc.load_model(model_dir)
engine = sa.create_engine(f"sqlite:///{store}")
df = pd.read_sql(sa.text(open(sql_path).read()), engine,
                 params={"window_start": sys.argv[5], "window_end": sys.argv[6]})
features = [c for c in df.columns if c != "id"]
df["score"] = pd.DataFrame(model.predict(df[features])).iloc[:, 1].to_numpy()
df.to_csv(out, index=False)
"""

# The floor, part by part. The matrix is built as lowops's fast path builds it (the same
# numbers as the pipeline's own preprocessing, checked bit for bit in tests/model).
FLOOR = r"""
import hashlib, json, os, sys, time
import joblib, numpy as np, pyarrow as pa, pyarrow.csv as csv, pyarrow.parquet as pq
import adbc_driver_sqlite.dbapi as adbc
from threadpoolctl import threadpool_limits
from lowops.model._fast import _BLOCK_ROWS, _categorical_parts, _numeric_block, _plan
from lowops.model.card import Contract
store, model_path, card_path, sql_path, predictions, scratch = sys.argv[1:7]
cpu, parts = time.process_time, {}
start = cpu()
sql = open(sql_path).read().replace(":window_start", "?").replace(":window_end", "?")
with adbc.connect(store) as con, con.cursor() as cur:
    cur.execute(sql, (sys.argv[7], sys.argv[8]))
    table = cur.fetch_arrow_table()
parts["ADBC read"] = cpu() - start
model = joblib.load(model_path)
plan = _plan(model, Contract.from_dict(json.load(open(card_path))["schema"]))
batch = table.combine_chunks().to_batches()[0]
matrix_s = predict_s = 0.0
with threadpool_limits(limits=1):
    start = cpu()
    filled = []
    for kind, transformer, columns, out in plan["blocks"]:
        if kind == "numeric":
            filled.append((out, transformer.transform(_numeric_block(batch, columns)), None))
        else:
            filled.append((out, None, _categorical_parts(batch, transformer, columns)))
    matrix_s += cpu() - start
    for low in range(0, batch.num_rows, _BLOCK_ROWS):
        start = cpu()
        high = min(low + _BLOCK_ROWS, batch.num_rows)
        matrix = np.empty((high - low, plan["width"]))
        for out, dense, cat in filled:
            if dense is not None:
                matrix[:, out] = dense[low:high]
                continue
            first = out.start
            for onehot, indices in cat:
                np.take(onehot, indices[low:high], axis=0, out=matrix[:, first:first + onehot.shape[1]], mode="clip")
                first += onehot.shape[1]
        matrix_s += cpu() - start
        start = cpu()
        plan["estimator"].predict_proba(matrix)
        predict_s += cpu() - start
parts["model matrix from Arrow"] = matrix_s
parts["predict, 1 thread, prebuilt matrix"] = predict_s
written = csv.read_csv(predictions)
start = cpu()
with open(scratch + ".csv", "wb") as handle:
    csv.write_csv(written, handle)
    handle.flush(); os.fsync(handle.fileno())
parts["CSV of lowops's 29 columns"] = cpu() - start
start = cpu()
pq.write_table(table, scratch + ".parquet", compression="zstd", row_group_size=100_000)
digest = hashlib.sha256()
with open(scratch + ".parquet", "rb") as handle:
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
parts["snapshot: Parquet + sha256"] = cpu() - start
print(json.dumps(parts))
"""

# What any scoring path loads: Python, the Arrow and database libraries, the model.
STARTUP = r"""
import sys, joblib, pyarrow.csv, pyarrow.parquet, adbc_driver_sqlite.dbapi
joblib.load(sys.argv[1])
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float


@dataclass
class Contender:
    name: str
    runs: list[Run] = field(default_factory=list)

    def stat(self, what: str, how: str) -> float:
        values = [getattr(r, what) for r in self.runs]
        return min(values) if how == "min" else statistics.median(values)


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[Run, str]:
    """Wall seconds, CPU seconds (user + system, all threads) and peak RSS of one process, and its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        usage = wide_store.launch(argv, stdout=out, stderr=err, env=env)
        out.seek(0)
        err.seek(0)
        if usage["code"] != 0:
            raise SystemExit(f"{' '.join(argv[:4])}… failed ({usage['code']}):\n{err.read().decode()[-2000:]}")
        return Run(usage["wall"], usage["cpu"], usage["peak_mb"]), out.read().decode()


def scores_of(path: Path) -> tuple[object, object]:
    """A predictions file's ids and scores, in id order."""
    import numpy as np
    import pyarrow.csv as csv

    table = csv.read_csv(path, convert_options=csv.ConvertOptions(include_columns=["id", "score"]))
    ids = table.column("id").to_numpy()
    order = np.argsort(ids, kind="stable")
    return ids[order], table.column("score").to_numpy(zero_copy_only=False)[order]


class Scores:
    """The first contender's scores; every later file must hold the same, to 1e-12."""

    TOLERANCE = 1e-12

    def __init__(self) -> None:
        self.reference: tuple[str, object, object] | None = None

    def check(self, name: str, path: Path) -> None:
        import numpy as np

        ids, values = scores_of(path)
        path.unlink()
        if self.reference is None:
            self.reference = (name, ids, values)
            return
        first, ref_ids, ref_values = self.reference
        if len(ids) != len(ref_ids) or not np.array_equal(ids, ref_ids):
            raise SystemExit(f"{name} scored other rows than {first} ({len(ids):,} vs {len(ref_ids):,})")
        worst = float(np.max(np.abs(values - ref_values))) if len(ids) else 0.0
        if not worst <= self.TOLERANCE:
            raise SystemExit(f"{name}'s scores differ from {first}'s by up to {worst:.3g} (> {self.TOLERANCE:g})")


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` processes that spin for the duration: a loaded server."""
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(n)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def newest_csv(folder: Path) -> Path:
    return max(folder.glob("predictions-*.csv"), key=lambda p: p.stat().st_mtime_ns)


def _pickle_for_peers(version: Path, target: Path) -> None:
    import joblib
    import skops.io as sio

    legacy, skops_file = version / "model.joblib", version / "model.skops"
    model = joblib.load(legacy) if legacy.exists() else \
        sio.load(skops_file, trusted=sio.get_untrusted_types(file=skops_file))
    joblib.dump(model, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each runs every contender once, in turn")
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes beside the benchmark")
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
    store, sql_path = project / "store.sqlite", project / "sql" / "wide.sql"
    version = project / "repo" / "models" / "bench" / "v0001"
    model_path, outputs, snapshot = project / "peer-model.joblib", project / "repo" / "outputs" / "2025-03", \
        project / "repo" / "data" / "2025-03"
    if not model_path.exists():  # the very pipeline lowops scores with, pickled as a peer's script would keep it
        _pickle_for_peers(version, model_path)
    one_thread = project / "config" / "one-thread.yaml"
    one_thread.write_text((project / "config" / "lowops.yaml").read_text().replace("n_jobs: -1", "n_jobs: 1"))
    lowops = wide_store.lowops_bin()

    def run_lowops(*config: str, fresh: bool = True) -> tuple[Run, Path]:
        if fresh:
            shutil.rmtree(snapshot, ignore_errors=True)
        run, _ = measure([lowops, "-C", str(project), *config, "score", "--window", "2025-03"])
        return run, newest_csv(outputs)

    def run_script(script: str, name: str, py: str = python, model: Path = model_path) -> tuple[Run, Path]:
        out = work / f"{name}.csv"
        run, _ = measure([py, "-c", script, str(store), str(model), str(out), str(sql_path), *WINDOW])
        return run, out

    contenders = {
        "lowops": lambda: run_lowops(),
        "lowops*, snapshot present": lambda: run_lowops(fresh=False),
        "lowops/1, n_jobs 1": lambda: run_lowops("-c", str(one_thread)),
        "pandas script": lambda: run_script(PANDAS, "pandas"),
        "ADBC + pyarrow.csv script": lambda: run_script(ADBC, "adbc"),
    }
    mlflow_py = HERE / ".venv-mlflow" / "bin" / "python"
    if mlflow_py.exists():
        model_dir = work / "mlflow-model"
        shutil.rmtree(model_dir, ignore_errors=True)
        measure([str(mlflow_py), "-c", MLFLOW_SAVE, str(model_path), str(model_dir)])
        contenders["MLflow pyfunc"] = lambda: run_script(MLFLOW, "mlflow", str(mlflow_py), model_dir)
    else:
        print("(MLflow not measured: not installed; bash benchmarks/setup_mlflow.sh installs it)")

    results = {name: Contender(name) for name in contenders}
    floor: dict[str, list[float]] = {}
    lowops_csv = work / "lowops-predictions.csv"
    check = Scores()
    print(f"scoring {args.rows:,} rows x 20 columns from SQLite, chunk_rows={args.chunk_rows:,}, "
          f"{os.cpu_count()} cores, {args.repeat} rounds, {args.busy} busy loops beside, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; {load()} at the start", flush=True)
    with busy_loops(args.busy):
        for round_ in range(args.repeat):
            for name, contender in contenders.items():
                run, path = contender()
                if not lowops_csv.exists():
                    shutil.copyfile(path, lowops_csv)
                check.check(name, path)
                results[name].runs.append(run)
                print(f"  round {round_ + 1} {name:<28} {run.wall:7.2f} s wall {run.cpu:7.2f} CPU-s "
                      f"{run.peak_mb:6.0f} MB   {load()}", flush=True)
            _, out = measure([python, "-c", FLOOR, str(store), str(model_path), str(version / "model.json"),
                              str(sql_path), str(lowops_csv), str(work / "floor"), *WINDOW])
            parts = json.loads(out)
            startup, _ = measure([python, "-c", STARTUP, str(model_path)])
            parts["start-up: imports + model load"] = startup.cpu
            for part, seconds in parts.items():
                floor.setdefault(part, []).append(seconds)
            print(f"  round {round_ + 1} {'floor (sum of the parts)':<28} {sum(parts.values()):7.2f} CPU-s   "
                  f"{load()}", flush=True)
    print(f"{load()} at the end; every contender's {args.rows:,} scores equal lowops's (to {Scores.TOLERANCE:g})")
    report(results, floor)


def report(results: dict[str, Contender], floor: dict[str, list[float]]) -> None:
    print(f"\n{'contender':<28} {'wall min':>9} {'wall med':>9} {'CPU-s min':>10} {'CPU-s med':>10} "
          f"{'peak MB':>8}")
    for c in results.values():
        print(f"{c.name:<28} {c.stat('wall', 'min'):>9.2f} {c.stat('wall', 'median'):>9.2f} "
              f"{c.stat('cpu', 'min'):>10.2f} {c.stat('cpu', 'median'):>10.2f} {c.stat('peak_mb', 'median'):>8.0f}")
    print(f"\n{'the floor, part by part':<40} {'CPU-s min':>10} {'CPU-s med':>10}")
    for part, values in floor.items():
        print(f"{part:<40} {min(values):>10.2f} {statistics.median(values):>10.2f}")
    total_min = sum(min(v) for v in floor.values())
    total_med = sum(statistics.median(v) for v in floor.values())
    print(f"{'floor (sum of the parts)':<40} {total_min:>10.2f} {total_med:>10.2f}")

    def ratio(a: str, b: str, what: str) -> str:
        return (f"{results[a].stat(what, 'min') / results[b].stat(what, 'min'):.2f}x "
                f"(medians {results[a].stat(what, 'median') / results[b].stat(what, 'median'):.2f}x)")

    lo = results["lowops"]
    print(f"\nlowops / floor, CPU-s: {lo.stat('cpu', 'min') / total_min:.2f}x "
          f"(medians {lo.stat('cpu', 'median') / total_med:.2f}x; target <= 1.3)")
    print(f"lowops / ADBC script: CPU-s {ratio('lowops', 'ADBC + pyarrow.csv script', 'cpu')}, "
          f"wall {ratio('lowops', 'ADBC + pyarrow.csv script', 'wall')} (target < 1)")
    print(f"lowops / pandas script: peak memory {ratio('lowops', 'pandas script', 'peak_mb')} (target <= 0.3); "
          f"wall {ratio('lowops', 'pandas script', 'wall')}")
    print(f"lowops / lowops at n_jobs 1: CPU-s {ratio('lowops', 'lowops/1, n_jobs 1', 'cpu')} (target <= 1.15), "
          f"wall {ratio('lowops', 'lowops/1, n_jobs 1', 'wall')}")
    if "MLflow pyfunc" in results:
        print(f"lowops / MLflow pyfunc: CPU-s {ratio('lowops', 'MLflow pyfunc', 'cpu')}, "
              f"wall {ratio('lowops', 'MLflow pyfunc', 'wall')}")


if __name__ == "__main__":
    main()
