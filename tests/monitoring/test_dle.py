"""lowops.monitoring.dle and the regression side of model drift: estimates and tolerances in the target's units.

The synthetic regressor below is right on average but its error grows with ``x``
(heteroscedastic noise: sd 1 + 2x), so a window whose ``x`` moved up has a
larger RMSE that only a model of the loss, not of the target, can see coming.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowops.config_schema import ModelDriftConfig
from lowops.lifecycle.triggers import kpi_tolerance
from lowops.monitoring import dle
from lowops.monitoring.model_drift import FALLBACK_RELATIVE, Point, compare
from lowops.monitoring.sweetviz import compare_report


def _window(seed: int, low: float, high: float, rows: int = 4000) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, rows)
    plan = rng.choice(["basic", "premium"], rows)
    truth = 50 + 10 * x + np.where(plan == "premium", 5.0, 0.0)
    y = truth + rng.normal(0, 1 + 2 * x)
    return pd.DataFrame({"x": x, "plan": plan}), truth, y


def _rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def test_dle_follows_covariate_shift_and_is_deterministic() -> None:
    frame, predicted, y = _window(0, 0.0, 1.0)
    models = dle.fit_dle(frame, predicted, y, ["x"], ["plan"], seed=42)
    assert models is not None and models["rows"] == 4000
    same = dle.fit_dle(frame, predicted, y, ["x"], ["plan"], seed=42)
    assert same is not None
    later, later_predicted, later_y = _window(1, 1.0, 2.0)  # x moved up: a larger error, no labels yet
    estimate = dle.estimate(models, later, later_predicted, ["x"], ["plan"])
    assert estimate == dle.estimate(same, later, later_predicted, ["x"], ["plan"])
    realised = _rmse(later_y, later_predicted)
    reference = _rmse(y, predicted)
    assert realised > 1.5 * reference  # the shift matters ...
    # ... and the estimate sees most of it (trees cannot extrapolate beyond x = 1: it stays below the truth).
    assert reference < estimate["rmse"] < realised
    assert estimate["rmse"] - reference > 0.4 * (realised - reference)
    assert estimate["mae"] == pytest.approx(float(np.mean(np.abs(later_y - later_predicted))), rel=0.35)
    quiet, quiet_predicted, quiet_y = _window(2, 0.0, 1.0)
    assert dle.estimate(models, quiet, quiet_predicted, ["x"], ["plan"])["rmse"] == pytest.approx(
        _rmse(quiet_y, quiet_predicted), rel=0.05)


def test_dle_needs_enough_labelled_rows_and_skips_missing_predictions() -> None:
    frame, predicted, y = _window(0, 0.0, 1.0, rows=200)
    y = y.copy()
    y[dle.MIN_ROWS - 1:] = np.nan
    assert dle.fit_dle(frame, predicted, y, ["x"], ["plan"], seed=0) is None
    models = dle.fit_dle(*_window(0, 0.0, 1.0, rows=500)[:1], *_window(0, 0.0, 1.0, rows=500)[1:], ["x"], ["plan"],
                         seed=0)
    assert models is not None
    window, scores, _ = _window(3, 0.0, 1.0, rows=10)
    scores = scores.copy()
    scores[:5] = np.nan
    assert set(dle.estimate(models, window, scores, ["x"], ["plan"])) == {"rmse", "mae"}
    assert dle.estimate(models, window, np.full(10, np.nan), ["x"], ["plan"]) == {}


def test_rmse_drift_is_judged_in_the_targets_units() -> None:
    settings = ModelDriftConfig()  # 3 standard errors of the difference
    benchmark = Point("benchmark", 40.0, se=1.5, rows=2000)
    noise = compare("rmse", Point("T", 42.0, se=1.5, rows=2000), [benchmark], settings)
    worse = compare("rmse", Point("T", 55.0, se=1.8, rows=2000), [benchmark], settings)
    better = compare("rmse", Point("T", 30.0, se=1.2, rows=2000), [benchmark], settings)
    assert [c.flagged for c in (*noise, *worse, *better)] == [False, True, False]
    assert noise[0].tolerance == pytest.approx(3 * math.hypot(1.5, 1.5)) and noise[0].drop == pytest.approx(2.0)
    assert better[0].drop == pytest.approx(-10.0)  # lower RMSE: better, a negative drop
    # No standard error anywhere: a share of the compared RMSE, not a fixed 0.02 of a KPI bounded by 1.
    [old] = compare("rmse", Point("T", 41.0), [Point("benchmark", 40.0)], settings)
    assert not old.flagged and old.tolerance == pytest.approx(FALLBACK_RELATIVE * 40.0)
    assert old.rule == "no standard error known: relative 5%"
    [clear] = compare("rmse", Point("T", 44.0), [Point("benchmark", 40.0)], settings)
    assert clear.flagged
    [auc] = compare("roc_auc", Point("T", 0.77), [Point("benchmark", 0.80)], settings)
    assert auc.flagged and auc.tolerance == pytest.approx(0.02)


def test_the_trigger_tolerances_are_relative_for_a_kpi_in_the_targets_units() -> None:
    assert kpi_tolerance("rmse", 0.03, 400.0) == (pytest.approx(12.0), "3.0% of 400.0000")
    assert kpi_tolerance("mae", 0.02, -5.0)[0] == pytest.approx(0.1)
    assert kpi_tolerance("r2", 0.03, 0.9) == (0.03, "0.03")
    assert kpi_tolerance("roc_auc", 0.02, 0.8) == (0.02, "0.02")


def test_sweetviz_leaves_out_rows_whose_target_is_missing(tmp_path: Path) -> None:
    frame, _, y = _window(4, 0.0, 1.0, rows=300)
    reference = frame.assign(next_charge=y)
    current = frame.assign(next_charge=np.where(np.arange(300) % 7 == 0, np.nan, y))
    path = compare_report(reference, current, tmp_path / "a" / "sweetviz_compare.html", target="next_charge",
                          window="2025-08")
    assert path.is_file() and "next_charge" in path.read_text(encoding="utf-8")
    unlabelled = current.assign(next_charge=np.nan)
    other = compare_report(reference, unlabelled, tmp_path / "b" / "sweetviz_compare.html", target="next_charge",
                           window="2025-12")
    assert other.is_file()
