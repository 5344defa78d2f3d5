"""Model quality metrics, computed the same way at training, evaluation and comparison."""

from __future__ import annotations

import math
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


def compute(task: str, y_true: Any, score: Any, threshold: float) -> dict[str, float]:
    if task == "classification":
        return classification_metrics(y_true, score, threshold)
    return regression_metrics(y_true, score)


def sklearn_scorer(metric: str) -> str:
    """The scikit-learn scoring name of a lowops metric (for CV, search and importance)."""
    return {
        "roc_auc": "roc_auc", "pr_auc": "average_precision", "f1": "f1", "accuracy": "accuracy",
        "precision": "precision", "recall": "recall", "log_loss": "neg_log_loss",
        "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2",
        "mape": "neg_mean_absolute_percentage_error",
    }[metric]
