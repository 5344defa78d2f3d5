"""Fit: cross-validate, search, fit, and measure a pipeline on its hold-out rows.

Everything here works on frames and arrays the stage hands over; where they
came from and where the result goes are the train stage's business.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lowops.config_schema import SearchConfig
from lowops.errors import ConfigError
from lowops.model import metrics as metric_fns
from lowops.model.importance import permutation
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
    classes: tuple[int | str, ...] = ()  # multiclass: the classes, in the order of the labels' places

    @property
    def multiclass(self) -> bool:
        return len(self.classes) > 2

    @property
    def scoring(self) -> str:
        return metric_fns.sklearn_scorer(self.primary, multiclass=self.multiclass)


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
    sign = -1.0 if plan.scoring.startswith("neg_") else 1.0
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


def workers(n_jobs: int, tasks: int) -> int:
    """Processes for ``tasks`` independent fits within ``compute.n_jobs`` (-1: one per core)."""
    cores = os.cpu_count() or 1
    wanted = cores if n_jobs < 0 else max(n_jobs, 1)
    return max(1, min(wanted, tasks))


def _fit_one(pipeline: Any, x: pd.DataFrame, y: np.ndarray) -> tuple[float, float]:
    """Fit ``pipeline`` in place at one OpenMP thread; its seconds and this process's peak RSS in MB."""
    from threadpoolctl import threadpool_limits

    # The fits run side by side, one per core: a second thread per fit would only wait at its barriers.
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        pipeline.fit(x, y)
        seconds = time.perf_counter() - started
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fold(pipeline: Any, x: pd.DataFrame, y: np.ndarray, test: tuple[pd.DataFrame, np.ndarray],
          scoring: str) -> tuple[float, float]:
    """One cross-validation fold as ``cross_val_score`` scores it (a clone fitted, the scorer on the rest)."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    fold = clone(pipeline)
    _, peak = _fit_one(fold, x, y)
    return float(get_scorer(scoring)(fold, *test)), peak


def _away(pipeline: Any, folds: list[tuple[pd.DataFrame, np.ndarray, tuple[pd.DataFrame, np.ndarray]]],
          scoring: str, processes: int) -> list[tuple[float, float]]:
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        done: list[tuple[float, float]] = Parallel(n_jobs=processes)(
            delayed(_fold)(pipeline, x, y, test, scoring) for x, y, test in folds)
    return done


def share(folds: int, processes: int) -> list[int]:
    """Which process fits each fold: 0 is this one, which fits the final model on every row first.

    A fold fits ``(k - 1) / k`` of the rows the final fit does; each goes to the
    least loaded process (ties: the lowest), so the last fit ends as early as a
    static split allows.
    """
    loads = [1.0] + [0.0] * (processes - 1)
    owners = []
    for _ in range(folds):
        owner = loads.index(min(loads))
        loads[owner] += (folds - 1) / folds
        owners.append(owner)
    return owners


def folds_and_fit(pipeline: Any, x: pd.DataFrame, y: np.ndarray, plan: FitPlan) -> tuple[Any, list[float], float,
                                                                                           float]:
    """The k cross-validation folds and the final fit on every row, side by side within ``compute.n_jobs``.

    This process fits the final model (so the stored model is exactly what a fit
    here gives) and whatever folds :func:`share` leaves it; the other folds run
    meanwhile in worker processes, each fit at one thread. Scores are
    ``cross_val_score``'s (the same folds, clones and scorer) whatever the number
    of processes. Below 2 folds there are none.

    Returns:
        ``(the fitted pipeline, fold scores as the metric reads, final fit seconds, peak RSS MB of any process)``.

    Raises:
        ConfigError: the estimator refused its parameters or the data.
    """
    from sklearn.base import clone
    from sklearn.model_selection import KFold

    scoring = plan.scoring
    template = clone(pipeline)  # unfitted: the workers' copy is pickled while this process fits ``pipeline``
    folds = []
    if plan.cv_folds >= 2:
        cv = KFold(n_splits=plan.cv_folds, shuffle=True, random_state=plan.seed)
        folds = [(x.iloc[train], y[train], (x.iloc[test], y[test])) for train, test in cv.split(x, y)]
    processes = workers(plan.n_jobs, len(folds) + 1)
    owners = share(len(folds), processes)
    there = [fold for fold, owner in zip(folds, owners, strict=True) if owner]
    try:
        with ThreadPoolExecutor(max_workers=1) as waiter:
            away = waiter.submit(_away, template, there, scoring, processes - 1) if there else None
            seconds, peak = _fit_one(pipeline, x, y)
            here = iter([_fold(template, fx, fy, test, scoring) for (fx, fy, test), owner
                         in zip(folds, owners, strict=True) if not owner])
            gone = iter(away.result() if away is not None else [])
    except ValueError as exc:
        raise ConfigError(f"{plan.config_file}: the estimator refused its parameters or the data: "
                          f"{exc}") from None
    done = [next(gone) if owner else next(here) for owner in owners]  # back in fold order
    found = [score for score, _ in done]
    peak = max(peak, *(p for _, p in done)) if done else peak
    return pipeline, ([-s for s in found] if scoring.startswith("neg_") else found), seconds, peak


def fit(pipeline: Any, x_train: pd.DataFrame, y_train: np.ndarray, x_hold: pd.DataFrame, y_hold: np.ndarray,
        plan: FitPlan, search_backend: contextlib.AbstractContextManager[Any] | None = None,
        unseen: tuple[pd.DataFrame, np.ndarray] | None = None) -> Fitted:
    """Cross-validate and fit (searching when configured), measure on the hold-out, and measure importance.

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
    scoring = plan.scoring
    table, best_params = None, None
    if plan.search is None:
        pipeline, cv_scores, fit_seconds, peak_rss_mb = folds_and_fit(pipeline, x_train, y_train, plan)
    else:
        # A search cross-validates every candidate itself: the chosen one's folds are the version's CV, and
        # cross-validating the configured (base) parameters as well would describe a model that was not chosen.
        try:
            searcher = _searcher(pipeline, plan.search, scoring, plan.cv_folds, plan.seed, plan.n_jobs)
            with search_backend or contextlib.nullcontext():
                searcher.fit(x_train, y_train)
        except ValueError as exc:
            raise ConfigError(f"{plan.config_file}: the estimator refused its parameters or the data: "
                              f"{exc}") from None
        pipeline, best_params = searcher.best_estimator_, searcher.best_params_
        table = _search_table(searcher, plan.search, plan)
        cv_scores = list(table.candidates[table.chosen].scores)
        # The final fit alone: the search's refit of the chosen candidate on every training row.
        fit_seconds = float(searcher.refit_time_)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    hold_scores = scores(pipeline, plan.task, x_hold)
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(x_hold), 1) * 1000
    holdout = metric_fns.compute(plan.task, y_hold, hold_scores, plan.threshold, plan.classes)
    if plan.multiclass:  # a class the hold-out lacks has no ROC AUC of its own: not recorded
        holdout = metric_fns.finite(holdout)
    return Fitted(pipeline=pipeline, best_params=best_params, cv_scores=cv_scores, fit_seconds=fit_seconds,
                  peak_rss_mb=peak_rss_mb, holdout_scores=hold_scores,
                  holdout_metrics=holdout,
                  latency_ms=latency_ms,
                  importance=permutation(pipeline, *(unseen or (x_hold, y_hold)), scoring, plan.seed),
                  search=table)
