"""lowops.monitoring.drift: the decision methods, the missing share, drift of whole frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lowops.config_schema import DriftConfig
from lowops.monitoring.drift import data_drift, decide, frames_drift
from lowops.monitoring.reference import Reference
from lowops.monitoring.stats import categorical_drift, categorical_sketch, numeric_drift, numeric_sketch


def test_decision_methods_and_missing_share() -> None:
    stats = {"median_shift": 0.05, "psi": 0.3, "ks": 0.2, "ks_pvalue": 0.01, "wasserstein_norm": 0.2,
             "missing_change": 0.0}
    assert not decide("x", "numeric", stats, DriftConfig()).drifted
    assert decide("x", "numeric", stats, DriftConfig(numeric_method="psi")).drifted
    by_ks = decide("x", "numeric", stats, DriftConfig(numeric_method="ks"))
    assert by_ks.drifted and by_ks.statistic == 0.01 and by_ks.drift_score == 0.2  # impact uses the effect size
    emptied = decide("x", "numeric", {"median_shift": math.nan, "missing_change": 0.9}, DriftConfig())
    assert emptied.drifted and emptied.drift_score == 0.9


def test_frames_drift_flags_the_shifted_columns() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n), "c": rng.choice(["x", "y"], n)})
    cur = pd.DataFrame({"a": rng.normal(0.5, 1, n), "b": rng.normal(0, 1, n),
                        "c": rng.choice(["x", "y"], n, p=[0.8, 0.2])})
    serial = frames_drift(ref, cur, DriftConfig(), n_jobs=1)
    threaded = frames_drift(ref, cur, DriftConfig(), n_jobs=2)
    assert [d.feature for d in serial if d.drifted] == ["a", "c"]
    assert [d.stats for d in serial] == [d.stats for d in threaded]
    sketches = Reference({"a": numeric_sketch(ref["a"]), "c": categorical_sketch(ref["c"])})
    assert [d.stats for d in data_drift(sketches, cur, DriftConfig())] == [
        numeric_drift(sketches.features["a"], cur["a"]), categorical_drift(sketches.features["c"], cur["c"])]
