"""OpenMP waits passively, and a small prediction runs on one thread while a scoring chunk keeps the limit."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from lowops.model.card import Column, Contract
from lowops.model.predict import predict_batch, scorer, scores
from lowops.model.threads import SMALL_ROWS, for_rows

PROBE = "import os, lowops.cli; print(os.environ.get('OMP_WAIT_POLICY'))"


def _wait_policy(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | extra
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60,
                          check=True)
    return done.stdout.strip()


def test_openmp_waits_passively_unless_the_user_said_otherwise() -> None:
    assert _wait_policy() == "PASSIVE"
    assert _wait_policy(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def _openmp_threads() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"}


class _Probe:
    """A model that scores every row 0.5 and remembers how many OpenMP threads each call had."""

    def __init__(self) -> None:
        self.threads: list[set[int]] = []

    def predict_proba(self, x: Any) -> np.ndarray:
        self.threads.append(_openmp_threads())
        return np.tile([0.5, 0.5], (len(x), 1))


CONTRACT = Contract(columns=(Column(name="x", kind="numeric", dtype="float64"),))


@pytest.fixture
def two_threads() -> Any:
    import sklearn.ensemble  # noqa: F401  (loads scikit-learn's OpenMP runtime)

    with threadpool_limits(limits=2, user_api="openmp"):
        assert _openmp_threads() == {2}
        yield


def test_a_small_call_runs_on_one_thread_and_a_large_one_keeps_the_limit(two_threads: None) -> None:
    with for_rows(SMALL_ROWS - 1):
        assert _openmp_threads() == {1}
    assert _openmp_threads() == {2}
    with for_rows(SMALL_ROWS):
        assert _openmp_threads() == {2}


def test_predictions_take_the_cap_by_their_size(two_threads: None) -> None:
    model = _Probe()
    small, large = (pa.record_batch({"x": np.arange(n, dtype=float)}) for n in (5_000, SMALL_ROWS))
    assert len(predict_batch(small, model, CONTRACT, "classification")) == 5_000
    assert len(scorer(model, CONTRACT, "classification")(large)) == SMALL_ROWS
    scores(model, "classification", pd.DataFrame({"x": [1.0, 2.0]}))
    assert model.threads == [{1}, {2}, {1}]
