"""lifecycle.compare: the weighted AUC, the paired bootstrap of a challenger's gain, and the size gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project, open_context, set_config
from ct_support import base_project

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



def test_the_auc_under_counts_is_exact_whatever_the_order_it_sums_in() -> None:
    """Counts make every partial sum an integer or a half: the AUC equals the rank-sum formula to the last bit."""
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300), 1)  # ten distinct values: ties everywhere
    weights = rng.integers(0, 4, (6, 300))
    weights[0, y == 1] = 0  # no positive: no AUC
    expected = []
    for w in weights:
        pos, neg = w * (y == 1), w * (y == 0)
        num = sum(pos[i] * (neg[score < score[i]].sum() + 0.5 * neg[score == score[i]].sum()) for i in range(300))
        den = pos.sum() * neg.sum()
        expected.append(num / den if den else np.nan)
    found = weighted_auc(y, score, weights)
    assert np.isnan(found[0])
    assert found[1:].tolist() == expected[1:]

def test_model_size_is_gated_by_an_absolute_budget_not_by_the_live_versions_size(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from lowops.lifecycle.compare import Candidate, decide

    project = copy_project(base_project(tmp_path_factory), tmp_path / "project")
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 600)
    good, weak = np.clip(y * 0.5 + rng.random(600) * 0.5, 0, 1), rng.random(600)

    def candidates() -> list[Candidate]:
        # The live version stopped early (20 kB); a normal challenger is a hundred times its size.
        live = Candidate("v0001", ["live"], {"roc_auc": 0.5}, ms_per_1000=4.0, bytes=20_000, scores=weak)
        new = Candidate("v0002", ["new"], {"roc_auc": 0.9}, ms_per_1000=4.0, bytes=2_000_000, scores=good)
        return [new, live]

    decision = decide(open_context(project), "2025-09", "2025-09", "v0001", candidates(), y)
    assert (decision.winner, decision.candidates[0].verdict) == ("v0002", "passes")
    set_config(project, {"compare": {"max_model_mb": 1}})
    decision = decide(open_context(project), "2025-09", "2025-09", "v0001", candidates(), y)
    assert decision.winner == "v0001"
    assert decision.candidates[0].verdict == "blocked: model file 2000000 bytes > compare.max_model_mb 1 MB"
