"""Fit: cross-validate, search, fit, and measure a pipeline on its hold-out rows.

Everything here works on frames and arrays the stage hands over; where they
came from and where the result goes are the train stage's business.
"""

from __future__ import annotations

import contextlib
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lowops.config_schema import SearchConfig
from lowops.errors import ConfigError
from lowops.model import metrics as metric_fns
from lowops.model.search_record import Candidate, Search
from lowops.model.predict import scores


@dataclass(frozen=True)
class Fitted:
    """A fitted pipeline and what was measured of it."""

    pipeline: Any
    best_params: dict[str, Any] | None
    cv_scores: list[float]  # of the chosen parameters: the search's own folds when there is a search
    fit_seconds: float  # the final fit alone (a search's refit of the chosen candidate)
    peak_rss_mb: float
    holdout_scores: np.ndarray
    holdout_metrics: dict[str, float]
    latency_ms: float  # per 1,000 hold-out rows
    importance: dict[str, float]
    search: Search | None = None


@dataclass(frozen=True)
class FitPlan:
    """How to fit: the metric that decides, folds, an optional search, seeds and cores."""

    task: str
    primary: str
    threshold: float
    cv_folds: int
    search: SearchConfig | None
    seed: int
    n_jobs: int
    config_file: Path | str


def importance(pipeline: Any, x: pd.DataFrame, y: Any, scoring: str, seed: int) -> dict[str, float]:
    """Permutation importance of each source column on the hold-out, normalised to sum 1.

    Permuting the raw input columns attributes one-hot columns to their source
    feature by construction, and works for any estimator.
    """
    from sklearn.inspection import permutation_importance

    sample = x.sample(n=min(len(x), 5000), random_state=seed) if len(x) > 5000 else x
    y_sample = np.asarray(y)[x.index.get_indexer(sample.index)]
    result = permutation_importance(pipeline, sample, y_sample, scoring=scoring, n_repeats=3,
                                    random_state=seed, n_jobs=1)
    raw = np.clip(result.importances_mean, 0, None)
    total = raw.sum()
    values = raw / total if total > 0 else np.full(len(raw), 1 / len(raw))
    return {str(c): float(v) for c, v in zip(sample.columns, values, strict=True)}


def _searcher(pipeline: Any, search: SearchConfig, scoring: str, folds: int, seed: int, n_jobs: int) -> Any:
    from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

    grid = {f"estimator__{k}": v for k, v in search.params.items()}
    cv = KFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    if search.kind == "grid":
        return GridSearchCV(pipeline, grid, scoring=scoring, cv=cv, n_jobs=n_jobs, refit=True)
    return RandomizedSearchCV(pipeline, grid, n_iter=search.n_iter, scoring=scoring, cv=cv,
                              n_jobs=n_jobs, refit=True, random_state=seed)


def _search_table(searcher: Any, search: SearchConfig, plan: FitPlan) -> Search:
    """Every candidate's fold scores as the metric reads (a ``neg_`` scorer's sign undone), and the chosen one."""
    results = searcher.cv_results_
    sign = -1.0 if metric_fns.sklearn_scorer(plan.primary).startswith("neg_") else 1.0
    folds = int(searcher.n_splits_)
    candidates = []
    for i, params in enumerate(results["params"]):
        fold_scores = [sign * float(results[f"split{k}_test_score"][i]) for k in range(folds)]
        candidates.append(Candidate(
            params={name.removeprefix("estimator__"): _plain(value) for name, value in params.items()},
            mean=float(np.mean(fold_scores)), std=float(np.std(fold_scores)), scores=tuple(fold_scores),
            rank=int(results["rank_test_score"][i])))
    return Search(kind=search.kind, metric=plan.primary, folds=folds, chosen=int(searcher.best_index_),
                  candidates=tuple(candidates))


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value ``model.json`` can hold."""
    return value.item() if isinstance(value, np.generic) else value


def cross_validate(pipeline: Any, x: pd.DataFrame, y: np.ndarray, plan: FitPlan) -> list[float]:
    """k-fold scores of the primary metric (higher or lower is better as the metric says); none below 2 folds.

    Raises:
        ConfigError: the estimator refused the data.
    """
    if plan.cv_folds < 2:
        return []
    from sklearn.model_selection import KFold, cross_val_score

    scoring = metric_fns.sklearn_scorer(plan.primary)
    try:
        cv = KFold(n_splits=plan.cv_folds, shuffle=True, random_state=plan.seed)
        found = [float(s) for s in cross_val_score(pipeline, x, y, scoring=scoring, cv=cv, n_jobs=1)]
    except ValueError as exc:
        raise ConfigError(f"{plan.config_file}: training failed with the configured estimator: {exc}") from None
    return [-s for s in found] if scoring.startswith("neg_") else found


def fit(pipeline: Any, x_train: pd.DataFrame, y_train: np.ndarray, x_hold: pd.DataFrame, y_hold: np.ndarray,
        plan: FitPlan, search_backend: contextlib.AbstractContextManager[Any] | None = None,
        unseen: tuple[pd.DataFrame, np.ndarray] | None = None) -> Fitted:
    """Cross-validate, fit (searching when configured), and measure on the hold-out.

    Args:
        pipeline: the unfitted pipeline.
        x_train: training rows. y_train: their targets.
        x_hold: hold-out rows, never trained on. y_hold: their targets.
        plan: the metric, folds, search, seed and cores.
        search_backend: the joblib backend a search runs under (a Dask cluster's, say).
        unseen: rows never trained on, the hold-out's among them, that permutation importance is
            measured on (default: the hold-out); more rows than the hold-out steady it.

    Raises:
        ConfigError: the estimator refused its parameters or the data.
    """
    # A search cross-validates every candidate itself: the chosen one's folds are the version's CV, and
    # cross-validating the configured (base) parameters as well would describe a model that was not chosen.
    cv_scores = cross_validate(pipeline, x_train, y_train, plan) if plan.search is None else []
    scoring = metric_fns.sklearn_scorer(plan.primary)
    started = time.perf_counter()
    table, refit_seconds = None, None
    try:
        if plan.search is not None:
            searcher = _searcher(pipeline, plan.search, scoring, plan.cv_folds, plan.seed, plan.n_jobs)
            with search_backend or contextlib.nullcontext():
                searcher.fit(x_train, y_train)
            pipeline, best_params = searcher.best_estimator_, searcher.best_params_
            table = _search_table(searcher, plan.search, plan)
            cv_scores = list(table.candidates[table.chosen].scores)
            refit_seconds = float(searcher.refit_time_)
        else:
            pipeline.fit(x_train, y_train)
            best_params = None
    except ValueError as exc:
        raise ConfigError(f"{plan.config_file}: the estimator refused its parameters or the data: "
                          f"{exc}") from None
    # The final fit alone: with a search, its refit of the chosen candidate on every training row.
    fit_seconds = refit_seconds if refit_seconds is not None else time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    hold_scores = scores(pipeline, plan.task, x_hold)
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(x_hold), 1) * 1000
    return Fitted(pipeline=pipeline, best_params=best_params, cv_scores=cv_scores, fit_seconds=fit_seconds,
                  peak_rss_mb=peak_rss_mb, holdout_scores=hold_scores,
                  holdout_metrics=metric_fns.compute(plan.task, y_hold, hold_scores, plan.threshold),
                  latency_ms=latency_ms, importance=importance(pipeline, *(unseen or (x_hold, y_hold)), scoring, plan.seed),
                  search=table)
