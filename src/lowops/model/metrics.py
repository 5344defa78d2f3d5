"""Model quality metrics, computed the same way at training, evaluation and comparison."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

# For these, lower is better; everything else is higher-is-better.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
# These are in the target's own units: a fixed tolerance means nothing across targets, a share of the KPI does.
TARGET_SCALE = frozenset({"rmse", "mae"})


def classification_metrics(y_true: Any, score: Any, threshold: float) -> dict[str, float]:
    """roc_auc, pr_auc, f1, accuracy, precision, recall, log_loss of a binary classifier."""
    from sklearn import metrics as m

    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(score, dtype=float), 1e-15, 1 - 1e-15)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) > 1
    return {
        "roc_auc": float(m.roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(m.average_precision_score(y, p)) if both else math.nan,
        "f1": float(m.f1_score(y, pred, zero_division=0)),
        "accuracy": float(m.accuracy_score(y, pred)),
        "precision": float(m.precision_score(y, pred, zero_division=0)),
        "recall": float(m.recall_score(y, pred, zero_division=0)),
        "log_loss": float(m.log_loss(y, p, labels=[0, 1])),
    }


def class_name(value: object) -> str:
    """A class as it appears in a metric's name and a column's (``roc_auc_<class>``, ``score_<class>``)."""
    return re.sub(r"\s+", "_", str(value))


def one_vs_rest_auc(y: np.ndarray, proba: np.ndarray, k: int) -> np.ndarray:
    """Each class's ROC AUC against the rest (NaN for a class absent from ``y``, or the only one in it)."""
    from sklearn import metrics as m

    out = np.full(k, math.nan)
    for c in range(k):
        positive = y == c
        if positive.any() and not positive.all():
            out[c] = m.roc_auc_score(positive, proba[:, c])
    return out


def multiclass_metrics(y_true: Any, proba: Any, classes: Sequence[object]) -> dict[str, float]:
    """roc_auc (macro one-vs-rest), f1 (macro), accuracy, log_loss, and each class's roc_auc and f1.

    Args:
        y_true: each row's class as its place in ``classes`` (0 .. k-1).
        proba: the rows' probabilities, one column per class in ``classes``' order.
        classes: the classes, named in the per-class metrics (``roc_auc_<class>``, ``f1_<class>``).

    Returns:
        The macro ROC AUC is the mean over the classes whose one-vs-rest AUC is defined (every class's,
        as scikit-learn's ``roc_auc_score(multi_class="ovr")``, when each occurs); NaN when none is.
    """
    from sklearn import metrics as m

    k = len(classes)
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    pred = p.argmax(axis=1)
    auc = one_vs_rest_auc(y, p, k)
    f1 = m.f1_score(y, pred, labels=list(range(k)), average=None, zero_division=0)
    values = {
        "roc_auc": float(np.mean(auc[np.isfinite(auc)])) if np.isfinite(auc).any() else math.nan,
        "f1": float(np.mean(f1)),
        "accuracy": float(m.accuracy_score(y, pred)),
        "log_loss": float(m.log_loss(y, np.clip(p, 1e-15, 1), labels=list(range(k)))),
    }
    for c, name in enumerate(classes):
        values[f"roc_auc_{class_name(name)}"] = float(auc[c])
        values[f"f1_{class_name(name)}"] = float(f1[c])
    return values


def regression_metrics(y_true: Any, predicted: Any) -> dict[str, float]:
    """rmse, mae, r2 and mape of a regressor (mape ignores rows whose truth is 0)."""
    from sklearn import metrics as m

    y = np.asarray(y_true, dtype=float)
    yhat = np.asarray(predicted, dtype=float)
    nonzero = y != 0
    return {
        "rmse": float(math.sqrt(m.mean_squared_error(y, yhat))),
        "mae": float(m.mean_absolute_error(y, yhat)),
        "r2": float(m.r2_score(y, yhat)) if len(y) > 1 else math.nan,
        "mape": float(np.mean(np.abs((y[nonzero] - yhat[nonzero]) / y[nonzero]))) if nonzero.any() else math.nan,
    }


def finite(values: dict[str, float]) -> dict[str, float]:
    """The metrics that are defined: an undefined KPI (ROC AUC of one class) is never logged or compared."""
    return {name: value for name, value in values.items() if math.isfinite(value)}


def compute(task: str, y_true: Any, score: Any, threshold: float,
            classes: Sequence[object] = ()) -> dict[str, float]:
    """The task's metrics; with more than two ``classes`` ``score`` is one column per class (multiclass)."""
    if task == "classification" and len(classes) > 2:
        return multiclass_metrics(y_true, score, classes)
    if task == "classification":
        return classification_metrics(y_true, score, threshold)
    return regression_metrics(y_true, score)


def sklearn_scorer(metric: str, multiclass: bool = False) -> str:
    """The scikit-learn scoring name of a lowops metric (for CV, search and importance)."""
    if multiclass:
        return {"roc_auc": "roc_auc_ovr", "f1": "f1_macro", "accuracy": "accuracy",
                "log_loss": "neg_log_loss"}[metric]
    return {
        "roc_auc": "roc_auc", "pr_auc": "average_precision", "f1": "f1", "accuracy": "accuracy",
        "precision": "precision", "recall": "recall", "log_loss": "neg_log_loss",
        "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2",
        "mape": "neg_mean_absolute_percentage_error",
    }[metric]
