"""Confidence-based performance estimation (CBPE): a classifier's KPIs before the labels arrive.

At training time an isotonic map from the model's score to the observed
positive rate is fitted on the hold-out (rows the model never trained on) and
stored beside the version. For a window without labels, each row's
calibrated probability ``p`` is the expected value of its label, so summing
``p`` and ``1 - p`` over the rows the model calls positive or negative gives
the expected confusion matrix, and sorting by score gives the expected ROC
and precision-recall curves (NannyML's CBPE, ratio of expectations).

The estimate assumes that calibration still holds, i.e. that only the inputs
moved (covariate shift); a change in the relation between inputs and labels
(concept drift) shows only in the realised KPI, which replaces the estimate
once labels arrive. Both go to ``logs/metrics.log`` so the error is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
ESTIMABLE = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss")


@dataclass(frozen=True)
class Calibration:
    """A monotone map from score to probability: linear interpolation between knots, clipped."""

    x: FloatArray
    y: FloatArray
    rows: int

    def __call__(self, scores: FloatArray) -> FloatArray:
        return np.clip(np.interp(scores, self.x, self.y), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist(), "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float), int(data["rows"]))


def fit_calibration(scores: Any, labels: Any) -> Calibration | None:
    """Fit the isotonic calibration map on hold-out scores and 0/1 labels.

    Args:
        scores: the model's scores on rows it never trained on.
        labels: their 0/1 labels.

    Returns:
        The map, or None when the labels hold a single class (nothing to calibrate).
    """
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    keep = np.isfinite(s) & np.isfinite(y)
    s, y = s[keep], y[keep]
    if len(np.unique(y)) < 2:
        return None
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
    return Calibration(np.asarray(iso.X_thresholds_, dtype=float), np.asarray(iso.y_thresholds_, dtype=float),
                       int(len(s)))


def _curves(scores: FloatArray, p: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Expected true and false positives at each distinct threshold, highest score first."""
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # the last row of each run of tied scores
    tp = np.cumsum(pos)[last]
    fp = np.cumsum(1.0 - pos)[last]
    return np.r_[0.0, tp], np.r_[0.0, fp]


def expected_roc_auc(scores: Any, probabilities: Any) -> float:
    """ROC AUC expected when row i is positive with probability ``p_i``.

    Equal to ``roc_auc_score`` on the rows duplicated as a positive of weight
    ``p`` and a negative of weight ``1 - p``.

    Args:
        scores: the scores that order the rows.
        probabilities: each row's calibrated probability of being positive.

    Returns:
        The expected AUC, NaN when either class is expected empty.
    """
    s, p = np.asarray(scores, dtype=float), np.asarray(probabilities, dtype=float)
    tp, fp = _curves(s, p)
    if tp[-1] <= 0 or fp[-1] <= 0:
        return math.nan
    tpr, fpr = tp / tp[-1], fp / fp[-1]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def expected_average_precision(scores: Any, probabilities: Any) -> float:
    """Average precision (``average_precision_score`` with the same weighting) expected under ``p``."""
    s, p = np.asarray(scores, dtype=float), np.asarray(probabilities, dtype=float)
    tp, fp = _curves(s, p)
    if tp[-1] <= 0:
        return math.nan
    recall = tp / tp[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
    return float(np.sum(np.diff(recall) * precision[1:]))


def estimate(scores: Any, calibration: Calibration, threshold: float) -> dict[str, float]:
    """Expected KPIs of a window's scores.

    Args:
        scores: the model's scores for the window (probability of class 1).
        calibration: the version's calibration map.
        threshold: score at or above which the predicted class is 1.

    Returns:
        Estimated ``roc_auc``, ``pr_auc``, ``accuracy``, ``precision``,
        ``recall``, ``f1`` and ``log_loss``; empty for an empty window.
    """
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return {}
    p = calibration(s)
    predicted = s >= threshold
    tp, fp = float(p[predicted].sum()), float((1 - p[predicted]).sum())
    fn, tn = float(p[~predicted].sum()), float((1 - p[~predicted]).sum())
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": expected_roc_auc(s, p),
        "pr_auc": expected_average_precision(s, p),
        "accuracy": (tp + tn) / len(s),
        "precision": tp / (tp + fp) if tp + fp > 0 else 0.0,
        "recall": tp / (tp + fn) if tp + fn > 0 else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0,
        "log_loss": float(-np.mean(p * np.log(clipped) + (1 - p) * np.log(1 - clipped))),
    }


def fit_class_calibrations(proba: Any, labels: Any) -> tuple[Calibration | None, ...]:
    """One isotonic map per class, from its probability to its one-vs-rest rate (NannyML's multiclass CBPE).

    Args:
        proba: the model's hold-out probabilities, one column per class.
        labels: each row's class as its column (0 .. k-1).
    """
    p = np.asarray(proba, dtype=float)
    y = np.asarray(labels, dtype=float)
    return tuple(fit_calibration(p[:, c], (y == c).astype(float)) for c in range(p.shape[1]))


def estimate_multiclass(proba: Any, calibrations: tuple[Calibration | None, ...],
                        names: list[str]) -> dict[str, float]:
    """Expected macro ROC AUC, macro F1 and accuracy of a window's probabilities, and each class's.

    Each class is a binary problem (the class against the rest): its calibrated
    probability gives its expected ROC AUC and, with the predicted class (the
    most probable), its expected confusion counts. The calibrated probabilities
    are renormalised to sum to 1 per row first, as NannyML does. A class without
    a calibration map (it had one label value on the hold-out) is left out of the
    macro averages.

    Args:
        proba: the window's probabilities, one column per class.
        calibrations: the version's map of each class.
        names: each class's name in the metric names (``roc_auc_<name>``).

    Returns:
        ``roc_auc``, ``f1``, ``accuracy`` and ``roc_auc_<name>``, ``f1_<name>``; empty for an empty window.
    """
    p = np.asarray(proba, dtype=float)
    p = p[np.isfinite(p).all(axis=1)] if p.ndim == 2 else p
    if p.ndim != 2 or len(p) == 0 or all(c is None for c in calibrations):
        return {}
    calibrated = np.column_stack([c(p[:, i]) if c is not None else p[:, i] for i, c in enumerate(calibrations)])
    total = calibrated.sum(axis=1, keepdims=True)
    calibrated = np.divide(calibrated, total, out=np.full_like(calibrated, 1 / p.shape[1]), where=total > 0)
    predicted = p.argmax(axis=1)
    out: dict[str, float] = {}
    aucs, f1s = [], []
    for i, name in enumerate(names):
        if calibrations[i] is None:
            continue
        q, mine = calibrated[:, i], predicted == i
        tp, fp, fn = float(q[mine].sum()), float((1 - q[mine]).sum()), float(q[~mine].sum())
        out[f"roc_auc_{name}"] = expected_roc_auc(p[:, i], q)
        out[f"f1_{name}"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
        aucs.append(out[f"roc_auc_{name}"])
        f1s.append(out[f"f1_{name}"])
    defined = [a for a in aucs if math.isfinite(a)]
    out["roc_auc"] = float(np.mean(defined)) if defined else math.nan
    out["f1"] = float(np.mean(f1s))
    out["accuracy"] = float(calibrated[np.arange(len(p)), predicted].mean())
    return out
