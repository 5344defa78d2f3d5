"""The fast scoring path gives exactly the pipeline's own numbers, or steps aside.

Models are fitted here by ``build.build_pipeline`` (what ``lowops train`` fits);
batches are Arrow record batches as scoring reads them from a snapshot.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lowops.model import build
from lowops.model.card import Contract
from lowops.model.contract import schema_contract
from lowops.model.predict import predict_batch as pipeline_scores
from lowops.model.predict import scorer

NUMERIC = ["tenure", "charge", "calls"]
CATEGORICAL = ["contract", "plan", "region"]
LEVELS = {"contract": ["monthly", "one_year", "two_year"], "plan": ["basic", "plus", "pro", "max"],
          "region": [f"r{i}" for i in range(9)]}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n).round(3) for name in NUMERIC})
    frame["calls"] = (frame["calls"] / 100).round(5)  # a small spread: scaling 1e308 overflows
    for name, levels in LEVELS.items():
        frame[name] = np.asarray(levels, dtype=object)[rng.integers(0, len(levels), n)]
    frame.loc[rng.random(n) < 0.03, "charge"] = np.nan
    frame.loc[rng.random(n) < 0.03, "plan"] = None
    return frame


def _fit(estimator: Any, task: str = "classification") -> tuple[Any, Contract]:
    frame = build.prepare_categoricals(_frame(3000, 1), CATEGORICAL)
    logit = frame["tenure"] - (frame["contract"] == "monthly") + (frame["plan"] == "pro")
    target = (logit > 0).astype(int) if task == "classification" else logit + frame["calls"]
    pipeline = build.build_pipeline(estimator, NUMERIC, CATEGORICAL).fit(frame, target)
    return pipeline, schema_contract(frame, NUMERIC, CATEGORICAL)


def _batch(frame: pd.DataFrame) -> pa.RecordBatch:
    arrays = {name: pa.array(frame[name].to_numpy(dtype=float)) for name in NUMERIC}
    arrays |= {name: pa.array(frame[name].astype(object).where(frame[name].notna(), None).tolist(), pa.string())
               for name in CATEGORICAL}
    return pa.RecordBatch.from_pydict(arrays)


def _awkward(n: int = 5000) -> pd.DataFrame:
    """Missing values everywhere, categories the model never saw, ±inf, a column all missing."""
    rng = np.random.default_rng(2)
    frame = _frame(n, 3)
    for name in NUMERIC:
        frame.loc[rng.random(n) < 0.05, name] = np.nan
    frame.loc[rng.random(n) < 0.02, "tenure"] = np.inf
    frame.loc[rng.random(n) < 0.02, "calls"] = -np.inf
    frame.loc[rng.random(n) < 0.05, "contract"] = "NEVER-SEEN"
    frame.loc[rng.random(n) < 0.05, "contract"] = None
    frame["region"] = None
    return frame


def _estimators() -> list[tuple[str, Any, str]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    return [("hgb", HistGradientBoostingClassifier(max_iter=30, random_state=0), "classification"),
            ("logistic", LogisticRegression(max_iter=300), "classification"),
            ("forest", RandomForestClassifier(n_estimators=20, random_state=0), "classification"),
            ("hgb-regression", HistGradientBoostingRegressor(max_iter=30, random_state=0), "regression")]


@pytest.mark.parametrize("name,estimator,task", _estimators(), ids=[e[0] for e in _estimators()])
@pytest.mark.parametrize("data", ["plain", "awkward"])
def test_fast_path_scores_equal_the_pipeline_bit_for_bit(name: str, estimator: Any, task: str, data: str) -> None:
    model, contract = _fit(estimator, task)
    frame = _frame(20_000, 5) if data == "plain" else _awkward()
    batch = _batch(frame)
    score = scorer(model, contract, task)
    assert score.fast  # build_pipeline's shape is recognised
    fast = score(batch)
    assert score.fast  # and the first-batch check agreed
    expected = pipeline_scores(batch, model, contract, task)
    assert fast.dtype == expected.dtype == np.float64
    assert np.array_equal(fast, expected), np.abs(fast - expected).max()
    # A later batch (no check any more) is equal too.
    later = _batch(_frame(7_000, 11))
    assert np.array_equal(score(later), pipeline_scores(later, model, contract, task))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_value_the_fast_path_cannot_take_goes_through_the_pipeline() -> None:
    from sklearn.linear_model import LogisticRegression

    model, contract = _fit(LogisticRegression(max_iter=300))
    frame = _frame(1000, 4)
    frame.loc[7, "calls"] = 1e308  # finite, but scaled past float64: the pipeline rejects that row alone
    batch = _batch(frame)
    score = scorer(model, contract, "classification")
    values = score(batch)
    assert np.isnan(values[7]) and np.isfinite(np.delete(values, 7)).all()
    assert np.array_equal(values, pipeline_scores(batch, model, contract, "classification"), equal_nan=True)
    assert score.fast  # only that batch went the slow way


def test_a_disagreement_on_the_first_batch_turns_the_fast_path_off() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model, contract = _fit(HistGradientBoostingClassifier(max_iter=10, random_state=0))
    batch = _batch(_frame(3000, 6))

    def reference(b: pa.RecordBatch) -> np.ndarray:  # a slow path whose numbers differ
        return pipeline_scores(b, model, contract, "classification") + 1.0

    from lowops.model._fast import Scorer

    score = Scorer(model, contract, "classification", reference)
    assert np.array_equal(score(batch), reference(batch))
    assert not score.fast


def test_a_pipeline_of_another_shape_is_scored_by_its_own_method() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    frame = build.prepare_categoricals(_frame(2000, 1), CATEGORICAL).fillna({"plan": "basic"})
    other = Pipeline([("pre", ColumnTransformer([("ord", OrdinalEncoder(), CATEGORICAL)], remainder="passthrough")),
                      ("model", HistGradientBoostingClassifier(max_iter=10))]).fit(frame, frame["tenure"] > 0)
    contract = schema_contract(frame, NUMERIC, CATEGORICAL)
    score = scorer(other, contract, "classification")
    assert not score.fast
    batch = _batch(_frame(500, 8).fillna({"plan": "basic"}))
    assert np.array_equal(score(batch), pipeline_scores(batch, other, contract, "classification"))


def test_the_scorer_travels_to_a_worker_by_pickle() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model, contract = _fit(HistGradientBoostingClassifier(max_iter=10, random_state=0))
    batch = _batch(_frame(2000, 9))
    score = scorer(model, contract, "classification")
    copy = pickle.loads(pickle.dumps(score))
    assert copy.fast
    assert np.array_equal(copy(batch), score(batch))
