"""Fitting in parallel and importance on the model's matrix give scikit-learn's own numbers.

Pipelines are ``build.build_pipeline``'s (what ``lowops train`` fits), on a small
frame with numbers, categories and missing values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score

from lowops.errors import ConfigError
from lowops.model import build
from lowops.model.fit import FitPlan, folds_and_fit
from lowops.model.importance import _source_slices, permutation

NUMERIC = ["tenure", "charge", "calls"]
CATEGORICAL = ["contract", "plan", "region"]
LEVELS = {"contract": ["monthly", "one_year", "two_year"], "plan": ["basic", "plus", "pro", "max"],
          "region": [f"r{i}" for i in range(9)]}


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n).round(3) for name in NUMERIC})
    for name, levels in LEVELS.items():
        frame[name] = np.asarray(levels, dtype=object)[rng.integers(0, len(levels), n)]
    frame.loc[rng.random(n) < 0.03, "charge"] = np.nan
    frame.loc[rng.random(n) < 0.03, "plan"] = None
    frame = build.prepare_categoricals(frame, CATEGORICAL)
    logit = frame["tenure"] - (frame["contract"] == "monthly") + (frame["plan"] == "pro") + rng.normal(size=n)
    return frame, (logit > 0).astype(int).to_numpy(), (logit + frame["calls"]).to_numpy()


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """The references at one OpenMP thread too: the numbers are the same, and no thread spins on a busy machine."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _plan(task: str, n_jobs: int, folds: int = 3, primary: str = "roc_auc") -> FitPlan:
    return FitPlan(task=task, primary=primary, threshold=0.5, cv_folds=folds, search=None, seed=7, n_jobs=n_jobs,
                   config_file="config/lowops.yaml")


def _hgb(task: str) -> Any:
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    return build.build_pipeline(cls(max_iter=30, random_state=3), NUMERIC, CATEGORICAL)


@pytest.mark.parametrize(("task", "primary"), [("classification", "roc_auc"), ("classification", "log_loss"),
                                                ("regression", "rmse")])
def test_folds_side_by_side_score_as_cross_val_score_and_the_final_fit_is_the_same_model(task: str,
                                                                                         primary: str) -> None:
    frame, y_class, y_reg = _frame(2000, 1)
    y = y_class if task == "classification" else y_reg
    from lowops.model import metrics

    scoring = metrics.sklearn_scorer(primary)
    expected = cross_val_score(_hgb(task), frame, y, scoring=scoring,
                               cv=KFold(n_splits=3, shuffle=True, random_state=7), n_jobs=1)
    expected = -expected if scoring.startswith("neg_") else expected
    reference = _hgb(task).fit(frame, y)
    method = "predict_proba" if task == "classification" else "predict"
    for n_jobs in (1, 2, 4):
        fitted, folds, seconds, peak = folds_and_fit(_hgb(task), frame, y, _plan(task, n_jobs, primary=primary))
        assert folds == [float(s) for s in expected]
        assert np.array_equal(getattr(fitted, method)(frame), getattr(reference, method)(frame))
        assert seconds > 0 and peak > 0


def test_below_two_folds_only_the_final_fit_runs() -> None:
    frame, y, _ = _frame(1000, 2)
    fitted, folds, _, _ = folds_and_fit(_hgb("classification"), frame, y, _plan("classification", 2, folds=1))
    assert folds == []
    assert np.array_equal(fitted.predict_proba(frame), _hgb("classification").fit(frame, y).predict_proba(frame))


def test_an_estimator_that_refuses_the_data_is_a_config_error_naming_the_file() -> None:
    frame, y, _ = _frame(600, 3)
    bad = build.build_pipeline(HistGradientBoostingClassifier(max_iter=-1), NUMERIC, CATEGORICAL)
    with pytest.raises(ConfigError, match=r"^config/lowops.yaml: the estimator refused its parameters or the "
                                          r"data: The 'max_iter' parameter"):
        folds_and_fit(bad, frame, y, _plan("classification", 2))


@pytest.mark.parametrize("estimator", [HistGradientBoostingClassifier(max_iter=30, random_state=3),
                                       LogisticRegression(max_iter=500)])
@pytest.mark.parametrize("rows", [1500, 7000])  # the second above the 5,000-row sample
def test_importance_on_the_matrix_is_permutation_importance_on_the_pipeline(estimator: Any, rows: int) -> None:
    frame, y, _ = _frame(rows, 4)
    pipeline = build.build_pipeline(estimator, NUMERIC, CATEGORICAL).fit(frame, y)
    assert _source_slices(pipeline, list(frame.columns)) is not None
    found = permutation(pipeline, frame, y, "roc_auc", 11)

    sample = frame.sample(n=5000, random_state=11) if rows > 5000 else frame
    result = permutation_importance(pipeline, sample, y[sample.index.to_numpy()], scoring="roc_auc",
                                    n_repeats=3, random_state=11, n_jobs=1)
    raw = np.clip(result.importances_mean, 0, None)
    assert found == {c: float(v) for c, v in zip(frame.columns, raw / raw.sum(), strict=True)}
    assert found["tenure"] > found["region"]


def test_an_imputer_dropping_an_all_missing_column_sends_importance_through_the_pipeline() -> None:
    frame, y, _ = _frame(1500, 5)
    frame["charge"] = np.nan  # the median imputer drops it: output columns no longer match input columns
    pipeline = build.build_pipeline(LogisticRegression(max_iter=500), NUMERIC, CATEGORICAL).fit(frame, y)
    assert _source_slices(pipeline, list(frame.columns)) is None
    found = permutation(pipeline, frame, y, "roc_auc", 11)
    result = permutation_importance(pipeline, frame, y, scoring="roc_auc", n_repeats=3, random_state=11, n_jobs=1)
    raw = np.clip(result.importances_mean, 0, None)
    assert found == {c: float(v) for c, v in zip(frame.columns, raw / raw.sum(), strict=True)}
    assert found["charge"] == 0.0


@pytest.mark.parametrize(("folds", "processes", "owners"), [
    (3, 1, [0, 0, 0]), (3, 2, [1, 1, 0]), (3, 4, [1, 2, 3]), (5, 2, [1, 1, 0, 1, 0]), (0, 2, [])])
def test_this_process_fits_the_final_model_and_the_folds_go_where_the_load_is_least(folds: int, processes: int,
                                                                                     owners: list[int]) -> None:
    from lowops.model.fit import share

    assert share(folds, processes) == owners
