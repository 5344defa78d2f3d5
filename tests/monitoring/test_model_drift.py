"""lowops.monitoring.model_drift: the primary KPI against T-1, T-2 and the benchmark.

The tolerance comes from the data: a drop is model drift beyond ``noise_sigmas``
standard errors of the difference, each KPI's standard error bootstrapped on its
own rows. The synthetic windows below are a binormal classifier (scores N(0, 1)
for class 0 and N(d, 1) for class 1, so ROC AUC = Phi(d / sqrt 2)) of 20,000 rows
a window with a 5,000-row benchmark: the real data set that motivated the rule
(ROC AUC 0.970-0.975 falling to 0.957-0.961) at its own size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from lowops.config_schema import ModelDriftConfig
from lowops.model import metrics as metric_fns
from lowops.monitoring.model_drift import Point, compare, drop, tolerance, tolerance_rule, with_standard_error

DEFAULT = ModelDriftConfig()


def test_fixed_tolerances_and_direction() -> None:
    absolute = ModelDriftConfig(noise_sigmas=None, absolute_tolerance=0.02)
    flagged = compare("roc_auc", Point("T", 0.70),
                      [Point("T-1", 0.75), Point("T-2", 0.71), Point("benchmark", None)], absolute)
    assert [(c.against, c.flagged, c.tolerance) for c in flagged] == [("T-1", True, 0.02), ("T-2", False, 0.02)]
    relative = ModelDriftConfig(noise_sigmas=None, relative_tolerance=0.1)
    assert [c.flagged for c in compare("rmse", Point("T", 11.5), [Point("T-1", 10.0)], relative)] == [True]
    assert drop("log_loss", 0.3, 0.25) == pytest.approx(0.05) and drop("roc_auc", 0.8, 0.75) == pytest.approx(-0.05)
    off = ModelDriftConfig(noise_sigmas=None)
    [none] = compare("roc_auc", Point("T", 0.1), [Point("T-1", 0.9)], off)
    assert not none.flagged and none.rule == "tolerances off" and math.isnan(none.tolerance)
    assert tolerance_rule(off) == "a drop beyond nothing (tolerances off)"


def test_the_tolerance_is_the_noise_of_the_difference_with_floors_under_it() -> None:
    current, reference = Point("T", 0.80, 0.003, 20000), Point("T-1", 0.81, 0.004, 20000)
    assert tolerance(current, reference, DEFAULT) == (pytest.approx(0.015), "3 x se 0.0050")
    floored = ModelDriftConfig(absolute_tolerance=0.02)
    assert tolerance(current, reference, floored) == (0.02, "3 x se 0.0050, absolute 0.02")
    # An estimate (no labels, no standard error of its own) borrows the benchmark's, carried to its rows.
    estimate, benchmark = Point("T", 0.80, None, 20000), Point("benchmark", 0.81, 0.004, 5000)
    limit, rule = tolerance(estimate, benchmark, DEFAULT)
    assert limit == pytest.approx(3 * math.hypot(0.002, 0.004)) and rule == "3 x se 0.0045"
    # Nothing known anywhere (a version and a log from before standard errors were kept): the old 0.02.
    assert tolerance(Point("T", 0.8), Point("T-1", 0.81), DEFAULT) == (0.02, "no standard error known: 0.02")
    assert tolerance_rule(floored) == ("a drop beyond 3 standard errors of the difference (bootstrap, 200 "
                                       "resamples), at least absolute 0.02")


def _window(rng: np.random.Generator, rows: int, auc: float) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(rows) < 0.3).astype(int)
    separation = math.sqrt(2) * norm.ppf(auc)
    return y, 1 / (1 + np.exp(-rng.normal(separation * y, 1.0)))


def _kpi(y: np.ndarray, score: np.ndarray, label: str) -> Point:
    values = metric_fns.compute("classification", y, score, 0.5)
    values = with_standard_error(values, "roc_auc", "classification", y, score, 0.5, DEFAULT, seed=0)
    return Point(label, values["roc_auc"], values["se.roc_auc"], len(y))


def _judge(aucs: list[float], seed: int) -> list[bool]:
    """Model drift per window of a version whose true ROC AUC per window is ``aucs`` (benchmark at aucs[0])."""
    rng = np.random.default_rng(seed)
    benchmark = _kpi(*_window(rng, 5000, aucs[0]), "benchmark")
    history: list[Point] = []
    flagged = []
    for i, auc in enumerate(aucs):
        current = _kpi(*_window(rng, 20000, auc), f"window {i + 1}")
        found = compare("roc_auc", current, [*history[-2:][::-1], benchmark], DEFAULT)
        flagged.append(any(c.flagged for c in found))
        history.append(current)
    return flagged


def test_a_drop_of_0_012_auc_is_flagged_from_its_window_on_and_never_before() -> None:
    flagged = _judge([0.972] * 5 + [0.960] * 5, seed=0)
    assert flagged == [False] * 5 + [True] * 5


def test_twenty_windows_of_pure_noise_raise_no_alarm() -> None:
    assert _judge([0.972] * 20, seed=1) == [False] * 20


def test_the_fixed_tolerance_of_old_missed_that_drop() -> None:
    """The motivating case: with the fixed 0.02 the same drop went unflagged every window."""
    rng = np.random.default_rng(0)
    old = ModelDriftConfig(noise_sigmas=None, absolute_tolerance=0.02)
    benchmark = _kpi(*_window(rng, 5000, 0.972), "benchmark")
    after = [_kpi(*_window(rng, 20000, 0.960), "after") for _ in range(5)]
    assert not any(c.flagged for p in after for c in compare("roc_auc", p, [benchmark], old))
    assert all(c.flagged for p in after for c in compare("roc_auc", p, [benchmark], DEFAULT))
