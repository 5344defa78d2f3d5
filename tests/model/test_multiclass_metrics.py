"""Multiclass metrics, their bootstrap and CBPE, against scikit-learn computed here independently."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from lowops.model import bootstrap, metrics
from lowops.monitoring import cbpe

CLASSES = ("bronze", "silver gold", "platinum")


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of three classes and labels drawn from them (so the probabilities are calibrated)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    return y, proba


def test_macro_and_per_class_metrics_are_scikit_learns() -> None:
    y, proba = _rows(900, 1)
    found = metrics.compute("classification", y, proba, 0.5, CLASSES)
    pred = proba.argmax(axis=1)
    assert found["roc_auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-12)
    assert found["f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-12)
    assert found["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert found["log_loss"] == pytest.approx(log_loss(y, proba), abs=1e-12)
    for c, name in enumerate(("bronze", "silver_gold", "platinum")):  # whitespace in a class becomes _
        assert found[f"roc_auc_{name}"] == pytest.approx(roc_auc_score(y == c, proba[:, c]), abs=1e-12)
        assert found[f"f1_{name}"] == pytest.approx(f1_score(y == c, pred == c), abs=1e-12)
    assert len(found) == 4 + 2 * 3


def test_a_class_absent_from_the_window_is_left_out_of_the_macro_auc() -> None:
    y, proba = _rows(600, 2)
    keep = y != 2
    found = metrics.compute("classification", y[keep], proba[keep], 0.5, CLASSES)
    assert math.isnan(found["roc_auc_platinum"])
    assert found["roc_auc"] == pytest.approx(np.mean([roc_auc_score(y[keep] == c, proba[keep, c]) for c in (0, 1)]))


@pytest.mark.parametrize("metric", ["roc_auc", "f1", "accuracy", "log_loss"])
def test_the_bootstrap_weighs_each_replicate_as_scikit_learn_does(metric: str) -> None:
    y, proba = _rows(400, 3)
    weights = next(bootstrap.resample_weights(np.random.default_rng(0), len(y), 6))
    under = bootstrap.metric_under(metric, "classification", y, proba, 0.5)
    assert under(np.ones((1, len(y))))[0] == pytest.approx(metrics.compute("classification", y, proba, 0.5,
                                                                            CLASSES)[metric], abs=1e-12)
    pred = proba.argmax(axis=1)
    for row, value in zip(weights, under(weights), strict=True):
        expected = {
            "roc_auc": lambda w: np.mean([roc_auc_score(y == c, proba[:, c], sample_weight=w) for c in range(3)]),
            "f1": lambda w: f1_score(y, pred, average="macro", labels=[0, 1, 2], sample_weight=w, zero_division=0),
            "accuracy": lambda w: accuracy_score(y, pred, sample_weight=w),
            "log_loss": lambda w: log_loss(y, proba, sample_weight=w, labels=[0, 1, 2]),
        }[metric](row)
        assert value == pytest.approx(expected, abs=1e-9)
    se = bootstrap.standard_error(metric, "classification", y, proba, threshold=0.5, resamples=100, seed=0)
    assert 0 < se < 0.1


def test_multiclass_cbpe_estimates_calibrated_probabilities_kpis() -> None:
    # The hold-out calibrates; a later window's labels come from its own (calibrated) probabilities.
    y_hold, p_hold = _rows(3000, 4)
    maps = cbpe.fit_class_calibrations(p_hold, y_hold)
    y, proba = _rows(3000, 5)
    estimated = cbpe.estimate_multiclass(proba, maps, ["bronze", "silver_gold", "platinum"])
    realised = metrics.compute("classification", y, proba, 0.5, CLASSES)
    for name in ("roc_auc", "f1", "accuracy", "roc_auc_bronze", "f1_platinum"):
        assert estimated[name] == pytest.approx(realised[name], abs=0.03), name
    assert cbpe.estimate_multiclass(np.empty((0, 3)), maps, ["a", "b", "c"]) == {}
