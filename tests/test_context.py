"""``compute.n_jobs`` caps the model's OpenMP threads, which scikit-learn's ``n_jobs`` does not reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import PATIENCE, copy_project, set_config

PROBE = """
import json, sys
from pathlib import Path
from lowops.config import load_project
from lowops.context import Context
ctx = Context.open(load_project(Path(sys.argv[1])))
from sklearn.ensemble import HistGradientBoostingClassifier  # loads the OpenMP runtime after the cap
from threadpoolctl import threadpool_info
print(json.dumps(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"})))
"""


def _openmp_threads(project: Path) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(project)], capture_output=True, text=True, env=env,
                          timeout=PATIENCE, check=True)
    return json.loads(done.stdout)


def test_n_jobs_caps_openmp_threads(demo_template: Path, tmp_path: Path) -> None:
    project = copy_project(demo_template, tmp_path / "churn")
    set_config(project, {"compute": {"n_jobs": 1}})
    assert _openmp_threads(project) == [1]


def test_n_jobs_minus_one_leaves_every_core(demo_template: Path, tmp_path: Path) -> None:
    project = copy_project(demo_template, tmp_path / "churn")
    set_config(project, {"compute": {"n_jobs": -1}})
    assert _openmp_threads(project) == [len(os.sched_getaffinity(0))]
