"""Acceptance on data no one here wrote: NannyML 0.13.1's data sets, through lowops end to end.

NannyML's wheel on PyPI (Apache-2.0) ships real and realistic data sets with a reference
and an analysis period, their targets and the predictions of NannyML's own reference model.
This script downloads the wheel only (``pip download --no-deps``; nannyml is never
installed or imported), reads the sets from it, and for each set:

1. builds a SQLite feature store: a ``features`` table (the set's id, its timestamp and its
   feature columns), a ``labels`` table (id, timestamp, target) and, apart, the shipped
   predictions (``shipped``) that lowops never reads;
2. lays out a project with ``lowops init --no-demo`` and writes its SQL and YAML as a user
   would (one mart, one label query, the set's own timestamps cut into windows);
3. runs ``lowops backfill`` from the first window with ``train.windows`` windows of history
   to the last, and prints per window: lowops's KPI, the KPI of the shipped predictions on
   the same rows, the drift verdicts, model drift, the decisions; and the time taken.

Sets: synthetic_car_loan and california_housing (binary classification, ROC AUC),
regression_synthetic (car prices, regression, RMSE), synthetic_sample (binary, quarterly) and
mc (credit card products, three classes: multiclass classification, macro ROC AUC one vs rest;
the shipped KPI from the shipped per-class probabilities ``y_pred_proba_<class>``).

Usage:
  .venv/bin/python benchmarks/acceptance/run.py                      # every set
  .venv/bin/python benchmarks/acceptance/run.py --sets regression_synthetic --windows 3
  .venv/bin/python benchmarks/acceptance/run.py --keep /tmp/acceptance   # keep the projects

It exits 1 when lowops fails on a set (a command exits non-zero, or a window in the range is
not scored). Without the wheel (no network access to PyPI and nothing in ``--cache``) it says
``acceptance: SKIPPED`` and what to do, and exits 0 (``--require`` makes it 1).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

WHEEL = "nannyml==0.13.1"
LOWOPS = str(Path(sys.executable).with_name("lowops"))
DATA = "nannyml/datasets/data/"


@dataclass(frozen=True)
class DataSet:
    """One of the wheel's sets, and how a user would lay it out for lowops."""

    name: str
    task: str                 # classification | regression | multiclass
    target: str
    analysis_target: str      # the file holding the analysis period's targets
    frequency: str            # windows.frequency
    shipped: str              # the column of the shipped model's score (multiclass: the prefix of each class's)
    drop: tuple[str, ...] = ()  # columns that are neither features nor needed
    estimator: dict[str, object] = field(default_factory=dict)


SETS = {
    "synthetic_car_loan": DataSet("synthetic_car_loan", "classification", "repaid",
                                  "synthetic_car_loan_analysis_target.csv", "monthly", "y_pred_proba", ("y_pred",)),
    "california_housing": DataSet("california_housing", "classification", "clf_target",
                                  "california_housing_analysis_gt.csv", "monthly", "y_pred_proba", ("y_pred",)),
    "regression_synthetic": DataSet("regression_synthetic", "regression", "y_true",
                                    "regression_synthetic_analysis_targets.csv", "weekly", "y_pred"),
    "synthetic_sample": DataSet("synthetic_sample", "classification", "work_home_actual",
                                "synthetic_sample_analysis_gt.csv", "quarterly", "y_pred_proba", ("y_pred", "period")),
    "mc": DataSet("mc", "multiclass", "y_true", "mc_analysis_gt.csv", "monthly", "y_pred_proba_"),
}


def wheel(cache: Path) -> Path | None:
    """The downloaded wheel (cached), or None with the reason and the remedy printed."""
    found = sorted(cache.glob("nannyml-0.13.1-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), WHEEL]
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        reason = "; ".join(errors[-2:]) or f"pip exited {done.returncode}, no wheel"
    except (OSError, subprocess.TimeoutExpired) as error:  # no pip, or an index that never answers
        reason = str(error)
    found = sorted(cache.glob("nannyml-0.13.1-*.whl"))
    if not found:
        print(f"acceptance: SKIPPED, nothing was run: could not download {WHEEL} ({reason}). "
              f"To run it, let pip reach PyPI (or an index that has {WHEEL}: PIP_INDEX_URL), "
              f"or put the wheel in {cache} (--cache).", flush=True)
        return None
    return found[0]


def frames(whl: Path, ds: DataSet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and analysis rows of ``ds``, the analysis period's targets joined in."""
    with zipfile.ZipFile(whl) as archive:
        def read(name: str) -> pd.DataFrame:
            return pd.read_csv(io.BytesIO(archive.read(DATA + name)))
        reference = read(f"{ds.name}_reference.csv")
        analysis = read(f"{ds.name}_analysis.csv")
        targets = read(ds.analysis_target)
    analysis = analysis.drop(columns=[ds.target], errors="ignore").merge(targets, on="id", how="left")
    return reference, analysis


def store(path: Path, ds: DataSet, rows: pd.DataFrame) -> list[str]:
    """The SQLite feature store of one set; its feature columns."""
    rows = rows.copy()
    rows["ts"] = pd.to_datetime(rows["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    shipped = [c for c in rows.columns if c.startswith("y_pred")]
    features = [c for c in rows.columns
                if c not in ("id", "timestamp", "ts", ds.target, *shipped, *ds.drop)]
    for column in features:
        if rows[column].dtype == bool:
            rows[column] = rows[column].map({True: "yes", False: "no"})
    with sqlite3.connect(path) as conn:
        rows[["id", "ts", *features]].to_sql("features", conn, index=False)
        rows[["id", "ts", ds.target]].rename(columns={ds.target: "target"}).to_sql("labels", conn, index=False)
        rows[["id", "ts", *shipped]].to_sql("shipped", conn, index=False)
        conn.execute("CREATE INDEX features_ts ON features (ts)")
        conn.execute("CREATE INDEX labels_ts ON labels (ts)")
    return features


def project(root: Path, ds: DataSet, windows: int, classes: list[str]) -> None:
    """``lowops init --no-demo`` and the SQL and YAML a user would write (``classes``: a multiclass set's)."""
    done = subprocess.run([LOWOPS, "init", str(root), "--no-demo"], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lowops init failed:\n{done.stderr}")
    sql = root / "sql"
    for old in sql.glob("*.sql"):
        old.unlink()
    window = "WHERE ts >= :window_start AND ts < :window_end"
    (sql / "labels.sql").write_text(f"SELECT id, target\nFROM labels\n{window} AND target IS NOT NULL\nORDER BY id\n")
    config = root / "config" / "lowops.yaml"
    import yaml

    data = yaml.safe_load(config.read_text())
    data["project"] = f"acceptance-{ds.name}"
    data["database"]["url"] = "sqlite:///store.sqlite"
    data["windows"]["frequency"] = ds.frequency
    data["entity_key"] = "id"
    data["features"]["marts"] = {"features": "sql/features.sql"}
    data["labels"] = {"sql": "sql/labels.sql", "target": "target"}
    if ds.task == "multiclass":  # lowops's classification task, with every class listed
        data["labels"]["classes"] = classes
    regression = ds.task == "regression"
    data["model"]["name"] = ds.name
    data["model"]["task"] = "regression" if regression else "classification"
    data["model"]["estimator"] = {"class": "sklearn.ensemble.HistGradientBoostingRegressor" if regression else
                                  "sklearn.ensemble.HistGradientBoostingClassifier", "params": {}}
    data["train"]["windows"] = windows
    data["train"]["primary_metric"] = "rmse" if regression else "roc_auc"
    data["smoke"]["golden"] = "holdout"
    data["smoke"].pop("golden_sql", None)
    data["drift"]["sweetviz"]["enabled"] = False  # the paper's visual report is one command away; not timed here
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def labels_of(ds: DataSet, freq: str, reference: pd.DataFrame, analysis: pd.DataFrame) -> list[str]:
    """The window labels the set's timestamps fall in, in order."""
    stamps = pd.to_datetime(pd.concat([reference["timestamp"], analysis["timestamp"]]))
    if freq == "monthly":
        return sorted(stamps.dt.strftime("%Y-%m").unique())
    if freq == "quarterly":
        return sorted({f"{t.year}-Q{(t.month - 1) // 3 + 1}" for t in stamps})
    iso = stamps.dt.isocalendar()
    return sorted({f"{y}-W{w:02d}" for y, w in zip(iso["year"], iso["week"], strict=True)})


def _kpi(task: str, y: np.ndarray, score: np.ndarray, classes: list[str] | None = None) -> float:
    from sklearn.metrics import mean_squared_error, roc_auc_score

    keep = ~pd.isna(y)
    y, score = y[keep], score[keep]
    if len(y) == 0:
        return math.nan
    if task == "regression":
        return float(math.sqrt(mean_squared_error(y, score)))
    if task == "multiclass":  # macro one-vs-rest, as lowops's roc_auc; each class must occur
        found = set(y)
        if found != set(classes or []):
            return math.nan
        return float(roc_auc_score(y, score, multi_class="ovr", average="macro", labels=classes))
    return float(roc_auc_score(y.astype(int), score)) if len(set(y)) == 2 else math.nan


def run_set(whl: Path, ds: DataSet, work: Path, windows: int, limit: int | None) -> dict[str, object]:
    """One set end to end; what it found."""
    reference, analysis = frames(whl, ds)
    root = work / ds.name
    rows = pd.concat([reference, analysis], ignore_index=True)
    labels = labels_of(ds, ds.frequency, reference, analysis)
    classes = sorted(map(str, pd.unique(rows[ds.target].dropna()))) if ds.task == "multiclass" else []
    project(root, ds, windows, classes)  # the layout first, the store inside it
    features = store(root / "store.sqlite", ds, rows)
    project_sql(root, ds, features)
    first_scored = labels[windows]
    last = labels[-1] if limit is None else labels[min(windows + limit - 1, len(labels) - 1)]
    started, cpu0 = time.perf_counter(), os.times()
    done = subprocess.run([LOWOPS, "backfill", "--from", first_scored, "--to", last, "--json"], cwd=root,
                          check=False, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu1 = os.times()
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        return {"set": ds.name, "error": f"lowops backfill exited {done.returncode}:\n{tail}", "wall": wall}
    metric = "rmse" if ds.task == "regression" else "roc_auc"
    logged = [line.split() for line in (root / "repo" / "logs" / "metrics.log").read_text().splitlines()]
    mine = {p[1]: float(p[5]) for p in logged if p[4] == metric}
    matters = {p[1]: float(p[5]) for p in logged if p[4] == "verdict.drift_that_matters"}
    drift = {p[1]: float(p[5]) for p in logged if p[4] == "verdict.model_drift"}
    expected = labels[labels.index(first_scored):labels.index(last) + 1]
    missing = [w for w in expected if w not in mine]
    if missing:
        return {"set": ds.name, "error": f"lowops backfill exited 0 but logged no {metric} for "
                                         f"{len(missing)} of {len(expected)} windows: {', '.join(missing)}",
                "wall": wall}
    events = (root / "repo" / "logs" / "lowops.log").read_text().splitlines()
    decided = {}
    for line in events:
        parts = line.split(" ", 4)
        if len(parts) == 5 and parts[3] == "decide":
            decided[parts[2]] = parts[4].split(": ", 1)[-1][:90]
    conn = sqlite3.connect(root / "store.sqlite")
    columns = ([f"s.{ds.shipped}{c}" for c in classes] if ds.task == "multiclass" else [f"s.{ds.shipped} AS score"])
    shipped = pd.read_sql(f"SELECT s.ts, {', '.join(columns)}, l.target FROM shipped s JOIN labels l USING (id)",
                          conn)
    conn.close()
    shipped["window"] = labels_window(shipped["ts"], ds.frequency)
    score_columns = [f"{ds.shipped}{c}" for c in classes] if ds.task == "multiclass" else ["score"]
    per_window = []
    for window in sorted(mine):
        part = shipped[shipped["window"] == window]
        score = part[score_columns].to_numpy(dtype=float)
        theirs = _kpi(ds.task, part["target"].to_numpy(), score if ds.task == "multiclass" else score[:, 0], classes)
        per_window.append({"window": window, "lowops": mine[window], "shipped": theirs,
                           "drift_that_matters": bool(matters.get(window)), "model_drift": bool(drift.get(window)),
                           "decision": decided.get(window, "-")})
    listed = subprocess.run([LOWOPS, "models", "list", "--json"], cwd=root, check=False,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        return {"set": ds.name, "error": f"lowops models list exited {listed.returncode}: {listed.stderr.strip()}",
                "wall": wall}
    versions = json.loads(listed.stdout)
    return {"set": ds.name, "task": ds.task, "metric": metric, "windows": per_window, "wall": wall, "cpu": cpu,
            "versions": [f"{v['version']} {v['status']}{' live' if v['live'] else ''}" for v in versions]}


def project_sql(root: Path, ds: DataSet, features: list[str]) -> None:
    """The feature query, now that the store says which columns there are."""
    cols = ",\n    ".join(features)
    (root / "sql" / "features.sql").write_text(
        f"-- {ds.name}: one row per id in the window.\nSELECT\n    id,\n    {cols}\nFROM features\n"
        "WHERE ts >= :window_start AND ts < :window_end\nORDER BY id\n")


def labels_window(ts: pd.Series, freq: str) -> pd.Series:
    stamps = pd.to_datetime(ts)
    if freq == "monthly":
        return stamps.dt.strftime("%Y-%m")
    if freq == "quarterly":
        return stamps.dt.year.astype(str) + "-Q" + ((stamps.dt.month - 1) // 3 + 1).astype(str)
    iso = stamps.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)


def show(result: dict[str, object]) -> None:
    name = result["set"]
    if "error" in result:
        print(f"\n== {name}: FAILED: {result['error']}")
        return
    metric, rows = result["metric"], result["windows"]
    shown = f"{metric} macro, one vs rest" if result["task"] == "multiclass" else metric
    print(f"\n== {name} ({result['task']}, {shown}; {len(rows)} windows scored, "  # type: ignore[arg-type]
          f"{result['wall']:.0f} s wall, {result['cpu']:.0f} CPU-s)")
    print(f"{'window':<9} {'lowops':>8} {'shipped':>8}  drift  model-drift  decision")
    for row in rows:  # type: ignore[attr-defined]
        print(f"{row['window']:<9} {row['lowops']:>8.4f} {row['shipped']:>8.4f}  {'yes' if row['drift_that_matters'] else 'no':<5}  "
              f"{'yes' if row['model_drift'] else 'no':<11}  {row['decision']}")
    mine = np.nanmean([r["lowops"] for r in rows])  # type: ignore[attr-defined]
    theirs = np.nanmean([r["shipped"] for r in rows])  # type: ignore[attr-defined]
    if metric == "rmse":
        verdict = "within 2% of" if mine <= theirs * 1.02 else f"{mine / theirs - 1:+.1%} above"
    else:
        verdict = "within 0.005 of, or better than," if mine >= theirs - 0.005 else f"{mine - theirs:+.4f} below"
    print(f"mean     {mine:>8.4f} {theirs:>8.4f}  -> lowops's default model {verdict} the shipped predictions")
    print("versions: " + ", ".join(result["versions"]))  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--windows", type=int, default=3, help="train.windows: windows of history (default 3)")
    parser.add_argument("--limit", type=int, default=None, help="score at most this many windows per set")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "lowops-acceptance-wheel",
                        help="where the downloaded wheel is kept and looked for first (default: %(default)s)")
    parser.add_argument("--keep", type=Path,
                        help="build the projects here and keep them (default: a temporary folder, removed unless "
                        "a set fails)")
    parser.add_argument("--require", action="store_true", help="exit 1 when the wheel cannot be downloaded")
    args = parser.parse_args()
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = set(names) - set(SETS)
    if unknown:
        parser.error(f"unknown set(s): {', '.join(sorted(unknown))}")
    runnable = names
    whl = wheel(args.cache)
    if whl is None:
        return 1 if args.require else 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="lowops-acceptance-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"acceptance: {whl.name}; projects in {work}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    failed = False
    for name in runnable:
        result = run_set(whl, SETS[name], work, args.windows, args.limit)
        failed |= "error" in result
        show(result)
    if failed:
        print(f"\nacceptance: FAILED: lowops failed on at least one set (above); the projects are in {work}")
    elif args.keep is None:
        shutil.rmtree(work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
