"""lifecycle.compare: the weighted AUC and the paired bootstrap of a challenger's gain."""

from __future__ import annotations

import numpy as np

from lowops.lifecycle.compare import bootstrap_delta
from lowops.model.bootstrap import weighted_auc


def test_weighted_auc_matches_sklearn_and_bootstrap_finds_real_gains() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    score = np.round(rng.random(400), 2)  # ties on purpose
    weights = rng.integers(0, 3, (3, 400))
    assert np.allclose(weighted_auc(y, score, weights), [roc_auc_score(y, score, sample_weight=w) for w in weights])
    good, weak = y * 0.5 + rng.random(400), y * 0.1 + rng.random(400)
    gain, low, high = bootstrap_delta("roc_auc", "classification", y, good, weak, threshold=0.5, resamples=300,
                                      confidence=0.95, seed=0)
    assert low > 0 and low < gain < high
    gain, low, high = bootstrap_delta("roc_auc", "classification", y, good, good, threshold=0.5, resamples=300,
                                      confidence=0.95, seed=0)
    assert (gain, low, high) == (0.0, 0.0, 0.0)
    gain, low, high = bootstrap_delta("log_loss", "classification", y, np.clip(good / 1.5, 0, 1),
                                      np.clip(weak / 1.1, 0, 1), threshold=0.5, resamples=100, confidence=0.9, seed=1)
    assert gain > 0 and low > 0
