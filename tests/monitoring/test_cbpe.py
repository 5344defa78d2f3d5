"""lowops.monitoring.cbpe: confidence-based performance estimation of unlabelled windows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from lowops.monitoring import cbpe


def test_cbpe_curves_equal_sklearn_on_weighted_duplicates() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(400), 2)  # ties on purpose
    p = np.clip(scores + rng.normal(0, 0.1, 400), 0, 1)
    y = np.r_[np.ones(400), np.zeros(400)]
    doubled, weights = np.r_[scores, scores], np.r_[p, 1 - p]
    assert cbpe.expected_roc_auc(scores, p) == pytest.approx(roc_auc_score(y, doubled, sample_weight=weights),
                                                             abs=1e-9)
    assert cbpe.expected_average_precision(scores, p) == pytest.approx(
        average_precision_score(y, doubled, sample_weight=weights), abs=1e-9)


def test_cbpe_estimates_a_calibrated_model_closely() -> None:
    rng = np.random.default_rng(11)
    truth = rng.beta(1, 6, 60_000)  # a churn-like score distribution
    labels = rng.random(60_000) < truth
    calibration = cbpe.fit_calibration(truth[:30_000], labels[:30_000])
    assert calibration is not None
    estimate = cbpe.estimate(truth[30_000:], calibration, threshold=0.3)
    # Close to what the true probabilities imply, and to the realised AUC up to sampling noise.
    assert estimate["roc_auc"] == pytest.approx(cbpe.expected_roc_auc(truth[30_000:], truth[30_000:]), abs=0.01)
    assert estimate["roc_auc"] == pytest.approx(roc_auc_score(labels[30_000:], truth[30_000:]), abs=0.02)
    predicted = truth[30_000:] >= 0.3
    assert estimate["accuracy"] == pytest.approx(np.mean(predicted == labels[30_000:]), abs=0.01)
    assert cbpe.fit_calibration([0.1, 0.2], [1, 1]) is None
    assert cbpe.estimate([], calibration, 0.5) == {}
    back = cbpe.Calibration.from_dict(calibration.to_dict())
    assert back(np.array([0.2])) == pytest.approx(calibration(np.array([0.2])))
