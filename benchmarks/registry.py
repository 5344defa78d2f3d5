"""Registry benchmark: start-up, registering a version, listing 1,000 versions — lowops against MLflow.

Measured in the same run, on the same small scikit-learn pipeline:

  start-up     `lowops --help` against `mlflow --help` (wall, median of 5 processes)
  register     one version with its params and metrics: lowops' registry (digest,
               model.json, metrics.txt, SHA256SUMS, atomic, staged) against MLflow's
               log_model + register with its defaults (pip requirements inferred) and with
               pinned requirements, on its file store and its SQLite store (warm: median of
               5 after one untimed registration in the same process)
  list         `lowops models list` over 1,000 versions (wall, start-up included) against
               MLflow's search_model_versions over 1,000 versions on SQLite (in-process,
               plus `import mlflow`); --versions N lists N instead, --repeat N takes medians of N

Usage:
  bash benchmarks/setup_mlflow.sh          # once: MLflow in its own venv
  .venv/bin/python benchmarks/registry.py
  .venv/bin/python benchmarks/registry.py --versions 20 --repeat 1   # a quick check that it runs

The versions are signed with a key made in the benchmark's temporary directory (never the runner's own).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"
LOWOPS = str(Path(sys.executable).parent / "lowops")

MLFLOW_SCRIPT = r"""
import json, os, statistics, sys, time, warnings, logging
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps its file store behind this switch
warnings.filterwarnings("ignore"); logging.disable(logging.WARNING)
t0 = time.perf_counter(); import mlflow, mlflow.sklearn; from mlflow import MlflowClient
import_s = time.perf_counter() - t0
import joblib
work = sys.argv[1]; model = joblib.load(sys.argv[2]); sk = sys.argv[3]
versions = int(sys.argv[4]); repeat = int(sys.argv[5])
out = {"import_s": import_s}

def register(uri, pinned, n=repeat):
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    mlflow.set_experiment("bench")
    kw = {"pip_requirements": [f"scikit-learn=={sk}"]} if pinned else {}
    times = []
    for i in range(n + 1):
        start = time.perf_counter()
        with mlflow.start_run():
            mlflow.log_params({"C": 1.0, "max_iter": 200})
            mlflow.log_metrics({"roc_auc": 0.8, "f1": 0.4})
            mlflow.sklearn.log_model(model, name="model", registered_model_name="bench",
                                     serialization_format="cloudpickle", **kw)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)

out["register_file_default"] = register(f"file://{work}/mlruns-a", pinned=False)
out["register_file_pinned"] = register(f"file://{work}/mlruns-b", pinned=True)
out["register_sqlite_default"] = register(f"sqlite:///{work}/a.db", pinned=False)
out["register_sqlite_pinned"] = register(f"sqlite:///{work}/b.db", pinned=True)

uri = f"sqlite:///{work}/list.db"
mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
client = MlflowClient()
client.create_registered_model("many")
for i in range(versions):
    client.create_model_version("many", source=f"{work}/artifact-{i}")
start = time.perf_counter()
found = client.search_model_versions("name='many'", max_results=2 * versions)
out["list_s"] = time.perf_counter() - start
out["list_count"] = len(found)
print(json.dumps(out))
"""


def wall(argv: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def small_model():  # type: ignore[no-untyped-def]
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    y = (x[:, 0] + rng.normal(size=500) > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(x, y)


def card(packages: dict[str, str | None]):  # type: ignore[no-untyped-def]
    """The card of one benchmark version: its params, hold-out metrics and package versions."""
    from lowops.io.logs import utc_now
    from lowops.model.card import Contract, CrossValidation, Estimator, Importance, Lineage, Metrics, ModelCard, Profile

    return ModelCard(
        model="bench", task="classification", created_at=utc_now(), reason="benchmark", run_id="-",
        estimator=Estimator("sklearn.linear_model.LogisticRegression", {"C": 1.0, "max_iter": 200}, 0),
        lineage=Lineage(data=(), train_windows=(), holdout_window="2025-01", rows={"train": 500, "holdout": 0},
                        config_hash="", model_config_hash="", sql_sha256={}, git={}, packages=packages,
                        lowops="bench"),
        metrics=Metrics({"roc_auc": 0.8, "f1": 0.4}, CrossValidation("roc_auc", 0, None, None), "roc_auc", 0.5),
        importance=Importance("", {}), schema=Contract(()), profile=Profile(0.0, 0.0, 0, 0.0))


def signing(repo: Path, key_file: Path) -> None:
    """Sign ``repo``'s versions with the key in ``key_file`` (made there if missing), as a command would."""
    from lowops.io import keys

    keys.create(key_file)
    keys.use(repo, lambda: keys.load(str(key_file), None, (), project="bench", root=key_file.parent, repo=repo))


def lowops_register(repo: Path, model, n: int, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Register ``n`` versions; the median time of the last ``repeat`` (the first ones only fill the registry)."""
    import joblib

    from lowops.io import layout, registry
    from lowops.io.lineage import package_versions

    # Every version carries its drift reference; an empty one is enough to list and load it.
    extra = {layout.REFERENCE_FILE: b"{}"}
    times = []
    for i in range(n + 1):
        start = time.perf_counter()
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        registry.register(repo, "bench", buffer.getvalue(), card(package_versions()),
                          "holdout.roc_auc 0.8\nholdout.f1 0.4\n", extra)
        if i > n - repeat:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--versions", type=int, default=1000, metavar="N",
                        help="versions `lowops models list` and MLflow's search go through (default: 1000)")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="timed lowops registrations and start-ups, of which the median (default: 5)")
    args = parser.parse_args()
    if args.versions < 1 or args.repeat < 1:
        parser.error("--versions and --repeat must be at least 1")

    import joblib
    import sklearn

    work = Path(tempfile.mkdtemp(prefix="lowops-bench-registry-"))
    model = small_model()
    joblib.dump(model, work / "model.joblib")
    key_file = work / "keys" / "bench.key"

    results: dict[str, float] = {}
    results["lowops --help"] = wall([LOWOPS, "--help"], repeat=args.repeat)
    signing(work / "repo-a" / "repo", key_file)
    results["lowops register"] = lowops_register(work / "repo-a" / "repo", model, args.repeat, args.repeat)

    # N versions, then `lowops models list` as a user runs it.
    project = work / "many"
    (project / "config").mkdir(parents=True)
    (project / "config" / "lowops.yaml").write_text(
        "database: {url: 'sqlite:///none.sqlite'}\nentity_key: id\nfeatures: {marts: {m: sql/m.sql}}\n"
        "labels: {sql: sql/l.sql, target: y}\nmodel: {name: bench, estimator: {class: "
        f"sklearn.linear_model.LogisticRegression}}}}\nintegrity: {{hmac_key_file: '{key_file}'}}\n")
    signing(project / "repo", key_file)
    lowops_register(project / "repo", model, args.versions - 1, 1)
    listing = f"lowops models list ({args.versions})"
    results[listing] = wall([LOWOPS, "-C", str(project), "models", "list"], repeat=3)

    mlflow: dict[str, float] = {}
    if MLFLOW_PY.exists():
        results["mlflow --help"] = wall([str(HERE / ".venv-mlflow" / "bin" / "mlflow"), "--help"], args.repeat)
        done = subprocess.run([str(MLFLOW_PY), "-c", MLFLOW_SCRIPT, str(work), str(work / "model.joblib"),
                               sklearn.__version__, str(args.versions), str(args.repeat)], capture_output=True,
                              text=True,
                              cwd=work)  # MLflow's SQLite store puts artifacts in ./mlruns
        if done.returncode != 0:
            raise SystemExit(f"MLflow benchmark failed:\n{done.stderr[-3000:]}")
        mlflow = json.loads(done.stdout.strip().splitlines()[-1])
    else:
        print("(MLflow not measured: run bash benchmarks/setup_mlflow.sh)")

    print("\nlowops")
    for name, value in results.items():
        print(f"  {name:<34} {value * 1000:>9.1f} ms")
    if mlflow:
        print("mlflow")
        print(f"  {'mlflow --help':<34} {results['mlflow --help'] * 1000:>9.1f} ms")
        print(f"  {'import mlflow':<34} {mlflow['import_s'] * 1000:>9.1f} ms")
        for key in ("register_file_default", "register_file_pinned", "register_sqlite_default",
                    "register_sqlite_pinned"):
            print(f"  {key:<34} {mlflow[key] * 1000:>9.1f} ms")
        print(f"  {f'search {args.versions} versions (sqlite)':<34} {mlflow['list_s'] * 1000:>9.1f} ms "
              f"(+ import {mlflow['import_s'] * 1000:.0f} ms)")
        reg = results["lowops register"]
        print("\nratios (peer / lowops; > 1 means lowops is faster)")
        print(f"  start-up --help:                  {results['mlflow --help'] / results['lowops --help']:.1f}x "
              "(target >= 10)")
        print(f"  register vs MLflow default (file): {mlflow['register_file_default'] / reg:.1f}x (target >= 10)")
        print(f"  register vs MLflow default (sqlite): {mlflow['register_sqlite_default'] / reg:.1f}x")
        print(f"  register vs MLflow pinned (file):  {mlflow['register_file_pinned'] / reg:.2f}x (target >= 1)")
        print(f"  register vs MLflow pinned (sqlite): {mlflow['register_sqlite_pinned'] / reg:.2f}x (target >= 1)")
        listed = results[listing]
        print(f"  list {args.versions} (lowops wall incl. start-up {listed:.2f} s, target < 0.5 s) vs MLflow "
              f"search + import: {(mlflow['list_s'] + mlflow['import_s']) / listed:.1f}x")


if __name__ == "__main__":
    main()
