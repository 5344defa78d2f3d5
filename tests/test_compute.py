"""``compute.engine: dask``: the same project on a Dask cluster gives the local engine's results.

One ``distributed.LocalCluster`` of two worker processes serves the session;
projects reach it through ``compute.dask.address``, as they would reach a
cluster on other machines. The local and the Dask run of the same window are
compared: predictions CSV byte for byte (but the wall-clock ``scored_at``),
drift statistics to 1e-9, the search's choice and scores exactly.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import copy_project, invoke, set_config

from lowops.compute import DaskEngine, Engine, open_engine
from lowops.config_schema import ComputeConfig, DriftConfig
from lowops.monitoring.drift import data_drift
from lowops.monitoring.reference import Reference
from lowops.monitoring.stats import categorical_sketch, numeric_sketch

WINDOW = "2025-01"
SEARCH = {"kind": "grid", "params": {"learning_rate": [0.05, 0.2]}}


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """One OpenMP thread in this process, as the workers have: on a busy 2-core machine spinning threads cost 40x."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dask_engine(dask_cluster: Any) -> Iterator[DaskEngine]:
    from distributed import Client

    engine = DaskEngine(Client(dask_cluster, set_as_default=False))
    yield engine
    engine.close()


def configure(project: Path, engine: str, address: str | None = None, **dask: Any) -> None:
    """The project as a user would set it: a search, drift on (no HTML report), small chunks, the engine."""
    set_config(project, {
        "model": {"search": SEARCH, "estimator": {"params": {"max_iter": 20}}},  # lighter still: 2 candidates x 2 folds
        "train": {"cv_folds": 2},
        "drift": {"enabled": True, "sweetviz": {"enabled": False}},
        "compute": {"engine": engine, "chunk_rows": 500,  # 2000 rows: four partitions
                    "dask": {"address": address, **dask}},
    })


def _run(project: Path) -> None:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # session fixtures run outside the autouse fixture
        done = invoke(project, "run", "--window", WINDOW)
    assert done.exit_code == 0, done.output


@pytest.fixture(scope="session")
def local_run(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(demo_template, tmp_path_factory.mktemp("local") / "churn")
    configure(project, "local")
    _run(project)
    return project


@pytest.fixture(scope="session")
def dask_run(demo_template: Path, dask_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(demo_template, tmp_path_factory.mktemp("dask") / "churn")
    configure(project, "dask", dask_cluster.scheduler_address)
    _run(project)
    return project


def _predictions(project: Path) -> str:
    (path,) = (project / "repo" / "outputs" / WINDOW).glob("predictions-*.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(',"run_id","scored_at"') and len(lines) == 2001
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)  # the wall-clock column aside


def test_dask_predictions_equal_the_local_engine_byte_for_byte(local_run: Path, dask_run: Path,
                                                               dask_cluster: Any) -> None:
    assert _predictions(dask_run) == _predictions(local_run)
    log = (dask_run / "repo" / "logs" / "lowops.log").read_text()
    assert f"engine INFO compute on dask (2 workers, {dask_cluster.scheduler_address})" in log
    assert "compute on dask" not in (local_run / "repo" / "logs" / "lowops.log").read_text()


def test_dask_scores_a_window_in_one_pass_as_the_local_engine(local_run: Path, dask_run: Path,
                                                               tmp_path: Path) -> None:
    """`lowops score` on a window not extracted yet: chunks staged here, scored on the workers."""
    found = {}
    for name, source in (("local", local_run), ("dask", dask_run)):
        project = copy_project(source, tmp_path / name / "churn")
        done = invoke(project, "score", "--window", "2025-02")
        assert done.exit_code == 0, done.output
        (path,) = (project / "repo" / "outputs" / "2025-02").glob("predictions-*.csv")
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2001
        versions = sorted(p.name for p in (project / "repo" / "data" / "2025-02").glob("features-*"))
        found[name] = (versions, [line.rsplit(",", 2)[0] for line in lines])  # run id and time aside
    assert found["dask"] == found["local"]


def _drift_rows(project: Path) -> list[dict[str, str]]:
    with open(project / "repo" / "monitoring" / WINDOW / "data_drift.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _same(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=0, abs_tol=1e-9)


def test_dask_drift_statistics_equal_the_local_engine(local_run: Path, dask_run: Path) -> None:
    local, dask = _drift_rows(local_run), _drift_rows(dask_run)
    assert len(local) == 16 and [r["feature"] for r in dask] == [r["feature"] for r in local]
    for mine, theirs in zip(dask, local):
        assert mine.keys() == theirs.keys()
        assert all(_same(mine[k], theirs[k]) for k in mine), (mine, theirs)
    verdicts = [json.loads((p / "repo" / "monitoring" / WINDOW / "verdict.json").read_text())
                for p in (local_run, dask_run)]
    for verdict in verdicts:
        verdict.pop("run_id")
    assert verdicts[0]["drifted"] == verdicts[1]["drifted"]
    assert verdicts[0]["ranking"] == verdicts[1]["ranking"]


def test_dask_search_chooses_and_scores_as_the_local_engine(local_run: Path, dask_run: Path) -> None:
    metas = [json.loads((p / "repo" / "models" / "churn" / "v0001" / "model.json").read_text())
             for p in (local_run, dask_run)]
    local, dask = metas
    assert local["estimator"]["best_params"] in [{"estimator__learning_rate": 0.05},
                                                 {"estimator__learning_rate": 0.2}]
    assert dask["estimator"]["best_params"] == local["estimator"]["best_params"]
    assert dask["metrics"]["holdout"] == local["metrics"]["holdout"]
    assert dask["metrics"]["cv"] == local["metrics"]["cv"]
    assert dask["search"] == local["search"]  # every candidate's fold scores, and the one chosen
    assert dask["importance"] == local["importance"]


def _arrays(count: int, pulled: list[int]) -> Iterator[np.ndarray]:
    for i in range(count):
        pulled.append(i)
        yield np.arange(i, i + 5, dtype=float)


def test_map_partitions_keeps_order_and_bounds_what_is_in_flight(dask_engine: DaskEngine) -> None:
    assert dask_engine.inflight == 4  # two workers of one thread each, twice over
    pulled: list[int] = []
    results = dask_engine.map_partitions(operator.mul, _arrays(25, pulled), 3.0)
    first_part, first = next(results)
    assert first_part.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and first.tolist() == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert len(pulled) == dask_engine.inflight  # never the whole window at once
    rest = list(results)
    assert [part[0] for part, _ in rest] == list(range(1, 25))
    assert all(np.array_equal(result, part * 3.0) for part, result in rest)
    local = list(Engine().map_partitions(operator.mul, _arrays(25, []), 3.0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(local, [(None, first), *rest]))


def _edge_frame(seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    frame = pd.DataFrame({
        "normal": rng.normal(shift, 1, n),
        "with_missing": np.where(rng.random(n) < 0.2, np.nan, rng.exponential(2 + shift, n)),
        "constant": np.full(n, 7.0),
        "empty": np.full(n, np.nan),
        "integers": rng.integers(0, 2000, n).astype(float),  # more distinct values than the sketch keeps
        "plan": rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.3, 0.2]),
        "region": rng.choice(["north", "south", "east", "west"] + (["moon"] if shift else []), n),
    })
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    return frame


def test_data_drift_on_dask_equals_local_to_1e_9(dask_engine: DaskEngine) -> None:
    settings = DriftConfig(sketch_size=500)
    ref, cur = _edge_frame(1, 0.0), _edge_frame(2, 0.4)
    features = {name: numeric_sketch(ref[name], size=settings.sketch_size, bins=settings.psi_bins)
                for name in ("normal", "with_missing", "constant", "empty", "integers")}
    features.update({name: categorical_sketch(ref[name]) for name in ("plan", "region")})
    reference = Reference(features=features)
    local = data_drift(reference, cur, settings, n_jobs=2)
    dask = data_drift(reference, cur, settings, engine=dask_engine)
    assert [d.feature for d in dask] == [d.feature for d in local] == list(features)
    for mine, theirs in zip(dask, local):
        assert (mine.kind, mine.method, mine.drifted) == (theirs.kind, theirs.method, theirs.drifted)
        assert mine.stats.keys() == theirs.stats.keys()
        for key, value in theirs.stats.items():
            other = mine.stats[key]
            if isinstance(value, float):
                assert (math.isnan(value) and math.isnan(other)) or abs(value - other) <= 1e-9, (mine.feature, key)
            else:
                assert other == value, (mine.feature, key)
    drifted = {d.feature for d in local if d.drifted}
    assert {"normal", "region"} <= drifted and "constant" not in drifted
    assert local[3].stats["status"] == "no_data"
    assert local[6].stats["unseen"] == ["moon"]


def test_without_an_address_a_local_cluster_is_started_and_closed(tmp_path: Path) -> None:
    engine = open_engine(ComputeConfig(engine="dask", dask={"n_workers": 1}), tmp_path / "lowops.yaml")
    assert isinstance(engine, DaskEngine)
    cluster = engine.cluster
    try:
        assert engine.describe() == "dask (1 workers, a local cluster)"
        assert engine.map(operator.add, [(1, 2), (3, 4)]) == [3, 7]
    finally:
        engine.close()
    assert cluster.status.name == "closed"


def test_local_engine_runs_in_process() -> None:
    engine = open_engine(ComputeConfig(), "lowops.yaml")
    assert type(engine) is Engine and not engine.distributed
    assert engine.map(operator.add, [(1, 2)]) == [3]
    with engine.search_backend():
        pass


def test_unreachable_scheduler_is_exit_69_naming_the_key(local_run: Path, tmp_path: Path) -> None:
    project = copy_project(local_run, tmp_path / "churn")
    configure(project, "dask", "tcp://127.0.0.1:9", connect_timeout=2)
    done = invoke(project, "score", "--window", "2025-02")
    assert done.exit_code == 69, done.output
    config = project / "config" / "lowops.yaml"
    assert done.stderr.startswith(f"Error: The Dask scheduler at tcp://127.0.0.1:9 (compute.dask.address in {config}) "
                                  "did not answer within 2s: ")
    assert done.stderr.rstrip().endswith("Start it, fix the address, or remove it to run a local cluster.")


def test_a_scheduler_address_needs_a_scheme(project: Path) -> None:
    configure(project, "dask", "scheduler.internal:8786")
    done = invoke(project, "validate")
    assert done.exit_code == 78
    assert done.stderr == (
        f"Error: {project / 'config' / 'lowops.yaml'}: the 'compute.dask.address' parameter must be a scheduler "
        "address such as tcp://scheduler.internal:8786 (or null for a local cluster). "
        "Got 'scheduler.internal:8786' instead.\n")
