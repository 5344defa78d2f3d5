"""Metrics under resampling weights: the bootstrap behind comparisons and KPI noise.

A bootstrap replicate is a row of resample counts (weights); a metric under a
matrix of weights is one value per replicate. ROC AUC and the mean-type
metrics take every replicate in one vectorised pass; the others loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np

_BATCH = 50


class AucPlan:
    """One score vector's sort, done once for any number of weight matrices.

    The rows are split into positives and negatives in score order; each
    positive knows where its tie group starts and ends among the negatives, so
    the AUC under a weight matrix is a cumulative sum over the negatives and two
    gathers. Under resample counts every partial sum is an integer or a half, so
    the order of summation never changes a value.
    """

    def __init__(self, y: np.ndarray, score: np.ndarray) -> None:
        order = np.argsort(score, kind="mergesort")
        s, positive = score[order], np.asarray(y)[order].astype(bool)
        group = np.cumsum(np.r_[True, s[1:] != s[:-1]])
        self.pos, self.neg = order[positive], order[~positive]
        neg_group = group[~positive]
        # Into the negatives' cumulative sum with a zero in front: those below the tie group, and those up to its end.
        self.below = np.searchsorted(neg_group, group[positive], side="left")
        self.upto = np.searchsorted(neg_group, group[positive], side="right")

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """ROC AUC under each row of ``weights`` (resample counts), ties counted half."""
        w_pos = weights[:, self.pos].astype(float)
        w_neg = weights[:, self.neg].astype(float)
        cum = np.zeros((len(weights), len(self.neg) + 1))
        np.cumsum(w_neg, axis=1, out=cum[:, 1:])
        num = (w_pos * (cum[:, self.below] + 0.5 * (cum[:, self.upto] - cum[:, self.below]))).sum(axis=1)
        den = w_pos.sum(axis=1) * w_neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of ``weights`` (resample counts), ties counted half; one sort in all."""
    return AucPlan(y, score)(weights)


def _mean(per_row: np.ndarray, weights: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = (weights @ per_row) / weights.sum(axis=1)
    return out


def weighted_metric(metric: str, task: str, y: np.ndarray, score: np.ndarray, threshold: float,
                    weights: np.ndarray) -> np.ndarray:
    """``metric`` of ``score`` against ``y`` under each row of ``weights``."""
    return metric_under(metric, task, y, score, threshold)(weights)


def metric_under(metric: str, task: str, y: np.ndarray, score: np.ndarray,
                 threshold: float) -> Callable[[np.ndarray], np.ndarray]:
    """``metric`` of ``score`` against ``y`` as a function of a weight matrix; what does not depend on the weights is done once.

    A 2-D ``score`` is a multiclass model's probabilities (``y`` the class's column): the macro averages.
    """
    if np.ndim(score) == 2:
        return _multiclass_under(metric, np.asarray(y).astype(int), np.asarray(score, dtype=float))
    if metric == "roc_auc":
        return AucPlan(y, score)
    return partial(_weighted, metric, task, y, score, threshold)


def _multiclass_under(metric: str, y: np.ndarray, proba: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Macro ROC AUC (one-vs-rest, over the classes defined in each replicate), macro F1, accuracy, log loss."""
    k = proba.shape[1]
    if metric == "roc_auc":
        plans = [AucPlan(y == c, proba[:, c]) for c in range(k)]

        def macro_auc(weights: np.ndarray) -> np.ndarray:
            per_class = np.stack([plan(weights) for plan in plans])
            defined = np.isfinite(per_class)
            with np.errstate(invalid="ignore", divide="ignore"):
                out: np.ndarray = np.where(defined, per_class, 0.0).sum(axis=0) / defined.sum(axis=0)
            return out
        return macro_auc
    pred = proba.argmax(axis=1)
    if metric == "accuracy":
        return partial(_mean, (pred == y).astype(float))
    if metric == "log_loss":
        return partial(_mean, -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)))
    if metric == "f1":
        hits = [((pred == c) & (y == c)).astype(float) for c in range(k)]
        wrong = [((pred == c) != (y == c)).astype(float) for c in range(k)]  # false positives and negatives

        def macro_f1(weights: np.ndarray) -> np.ndarray:
            w = weights.astype(float)
            tp = np.stack([w @ h for h in hits])
            off = np.stack([w @ e for e in wrong])
            with np.errstate(invalid="ignore", divide="ignore"):
                f1 = np.where(2 * tp + off > 0, 2 * tp / (2 * tp + off), 0.0)  # scikit-learn's zero_division=0
            out: np.ndarray = f1.mean(axis=0)
            return out
        return macro_f1
    raise ValueError(f"{metric} is not a multiclass metric (roc_auc, f1, accuracy, log_loss)")


def _weighted(metric: str, task: str, y: np.ndarray, score: np.ndarray, threshold: float,
              weights: np.ndarray) -> np.ndarray:
    w = weights.astype(float)
    if task == "classification":
        yi = y.astype(int)
        p = np.clip(score, 1e-15, 1 - 1e-15)
        if metric == "accuracy":
            return _mean(((p >= threshold).astype(int) == yi).astype(float), w)
        if metric == "log_loss":
            return _mean(-(yi * np.log(p) + (1 - yi) * np.log(1 - p)), w)
    else:
        err = np.asarray(y, dtype=float) - np.asarray(score, dtype=float)
        if metric == "rmse":
            root: np.ndarray = np.sqrt(_mean(err ** 2, w))
            return root
        if metric == "mae":
            return _mean(np.abs(err), w)
    return np.asarray([_one(metric, task, y, score, threshold, row) for row in w])


def _one(metric: str, task: str, y: np.ndarray, score: np.ndarray, threshold: float, w: np.ndarray) -> float:
    from sklearn import metrics as m

    if task == "classification":
        yi = y.astype(int)
        p = np.clip(score, 1e-15, 1 - 1e-15)
        pred = (p >= threshold).astype(int)
        return float({
            "pr_auc": lambda: m.average_precision_score(yi, p, sample_weight=w),
            "f1": lambda: m.f1_score(yi, pred, sample_weight=w, zero_division=0),
            "precision": lambda: m.precision_score(yi, pred, sample_weight=w, zero_division=0),
            "recall": lambda: m.recall_score(yi, pred, sample_weight=w, zero_division=0),
        }[metric]())
    yf = np.asarray(y, dtype=float)
    nonzero = yf != 0
    return float({
        "r2": lambda: m.r2_score(yf, score, sample_weight=w),
        "mape": lambda: np.average(np.abs((yf[nonzero] - score[nonzero]) / yf[nonzero]), weights=w[nonzero]),
    }[metric]())


def resample_weights(rng: np.random.Generator, n: int, resamples: int) -> Iterator[np.ndarray]:
    """Bootstrap replicates of ``n`` rows as resample-count matrices, at most ``_BATCH`` rows at a time."""
    for start in range(0, resamples, _BATCH):
        batch = min(_BATCH, resamples - start)
        idx = rng.integers(0, n, size=(batch, n)) + (np.arange(batch) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=batch * n).reshape(batch, n)


def standard_error(metric: str, task: str, y: np.ndarray, score: np.ndarray, *, threshold: float,
                   resamples: int, seed: int) -> float:
    """The bootstrap standard error of ``metric`` on these rows (NaN when it cannot be estimated)."""
    y, score = np.asarray(y), np.asarray(score, dtype=float)
    if len(y) < 2 or resamples < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    under = metric_under(metric, task, y, score, threshold)
    values = np.concatenate([under(w) for w in resample_weights(rng, len(y), resamples)])
    values = values[np.isfinite(values)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
