"""lowops.monitoring.impact: importance-weighted and counterfactual impact of drift, on small frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lowops.config_schema import DriftConfig
from lowops.monitoring.drift import FeatureDrift
from lowops.monitoring.impact import (
    PILOT_ROWS,
    counterfactual,
    map_categorical,
    map_numeric,
    normalised_importance,
    rank_impact,
)
from lowops.monitoring.reference import build_reference
from lowops.monitoring.stats import categorical_sketch, numeric_drift, numeric_sketch


def _drift(feature: str, drifted: bool, score: float) -> FeatureDrift:
    return FeatureDrift(feature, "numeric", "median_shift", score, 0.1, drifted, score, {})


def test_drift_in_an_ignored_feature_does_not_matter_but_in_a_driver_does() -> None:
    settings = DriftConfig()
    importance = normalised_importance({"driver": 0.6, "ignored": 0.0, "other": 0.4}, ["driver", "ignored", "other"])
    cf = {"driver": {"mean_abs_change": 0.0, "flip_share": 0.0},
          "ignored": {"mean_abs_change": 0.0, "flip_share": 0.0},
          "other": {"mean_abs_change": 0.0, "flip_share": 0.0}}
    quiet = rank_impact([_drift("driver", False, 0.05), _drift("ignored", True, 2.0), _drift("other", False, 0)],
                        importance, cf, settings)
    assert not quiet.matters and quiet.rows[0]["feature"] == "ignored"  # reported, ranked, not counted
    loud = rank_impact([_drift("driver", True, 0.3), _drift("ignored", True, 2.0), _drift("other", False, 0)],
                       importance, cf, settings)
    assert loud.matters and loud.rows[0]["feature"] == "driver"
    assert loud.rows[0]["impact"] == pytest.approx(0.3 * 0.6)
    assert loud.evidence and loud.evidence[0].startswith("driver:")


def test_sum_combination_and_counterfactual_threshold() -> None:
    importance = {"a": 0.5, "b": 0.5}
    drifts = [_drift("a", True, 0.012), _drift("b", True, 0.012)]  # impact 0.006 each, 0.012 summed
    none = {"a": {"mean_abs_change": 0.0, "flip_share": 0.0}, "b": {"mean_abs_change": 0.0, "flip_share": 0.0}}
    assert not rank_impact(drifts, importance, none, DriftConfig()).matters
    summed = DriftConfig.model_validate({"impact": {"combine": "sum"}})
    assert rank_impact(drifts, importance, none, summed).matters
    moved = {"a": {"mean_abs_change": 0.02, "flip_share": 0.01}, "b": none["b"]}
    result = rank_impact(drifts, importance, moved, DriftConfig())
    assert result.matters and result.rows[0]["feature"] == "a" and result.rows[0]["rank_counterfactual"] == 1


def test_importance_is_normalised_and_uniform_without_any() -> None:
    assert normalised_importance({"a": 3.0, "b": 1.0, "c": -1.0}, ["a", "b", "c"]) == {"a": 0.75, "b": 0.25, "c": 0}
    assert normalised_importance(None, ["a", "b"]) == {"a": 0.5, "b": 0.5}


def test_map_numeric_lands_on_the_reference_distribution() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(10, 2, 20_000)
    cur = np.r_[rng.normal(14, 3, 5000), [np.nan] * 50]
    mapped = map_numeric(cur, numeric_sketch(ref), np.random.default_rng(1))
    assert np.isnan(mapped[-50:]).all()
    assert numeric_drift(numeric_sketch(ref), mapped)["ks"] < 0.02
    discrete = np.r_[np.zeros(60), np.ones(40)]  # 60/40 -> the reference's 30/70
    mapped = map_numeric(discrete, numeric_sketch(np.r_[np.zeros(300), np.ones(700)]), np.random.default_rng(2))
    assert set(np.unique(mapped)) == {0.0, 1.0} and mapped.mean() == pytest.approx(0.7, abs=0.01)


def test_map_categorical_moves_only_the_excess() -> None:
    sketch = categorical_sketch(["a"] * 50 + ["b"] * 50)
    same = pd.Series(["a"] * 500 + ["b"] * 500)
    assert (map_categorical(same, sketch, np.random.default_rng(0)) == same.to_numpy()).all()
    drifted = pd.Series(["a"] * 800 + ["b"] * 150 + ["new"] * 50 + [None] * 10, dtype=object)
    mapped = map_categorical(drifted, sketch, np.random.default_rng(0))
    assert mapped[-1] is None
    counts = pd.Series(mapped[:-10]).value_counts(normalize=True)
    assert counts["a"] == pytest.approx(0.5, abs=0.04) and "new" not in counts
    assert (mapped[800:950] == "b").all()  # the under-represented category is never redrawn


def _driver_case() -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 5000), "z": rng.normal(0, 1, 5000),
                              "c": rng.choice(["a", "b"], 5000)})
    current = pd.DataFrame({"x": rng.normal(1.5, 1, 3000), "z": rng.normal(0, 1, 3000),
                            "c": rng.choice(["a", "b"], 3000, p=[0.9, 0.1])})
    return current, build_reference(reference, ["x", "z"], ["c"], DriftConfig())


class CountingPredict:
    """``frame -> scores`` where only x drives the score; it counts its calls and rows."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        return 1 / (1 + np.exp(-2 * frame["x"].to_numpy(dtype=float)))


def test_counterfactual_blames_the_driver() -> None:
    current, ref = _driver_case()
    predict = CountingPredict()
    cf = counterfactual(predict, current, ref, ["x", "z", "c"], threshold=0.5, seed=0)
    assert cf["x"]["mean_abs_change"] > 0.2 and cf["x"]["flip_share"] > 0.3
    assert cf["z"]["mean_abs_change"] == 0 and cf["c"]["mean_abs_change"] == 0
    # One batched call: the pilot's rows, then the moved rows of all three features stacked.
    assert len(predict.calls) == 1 and predict.calls[0] > PILOT_ROWS
    regression = counterfactual(predict, current, ref, ["x"], threshold=None, seed=0)  # a regressor: no classes
    assert math.isnan(regression["x"]["flip_share"]) and regression["x"]["mean_abs_change"] > 0.2


def test_counterfactual_only_for_the_features_asked_and_none_without_any() -> None:
    current, ref = _driver_case()
    predict = CountingPredict()
    assert set(counterfactual(predict, current, ref, ["x"], threshold=0.5, seed=0)) == {"x"}
    assert counterfactual(predict, current, ref, [], threshold=0.5, seed=0) == {}
    assert len(predict.calls) == 1  # nothing drifted: nothing re-scored


def test_counterfactual_sample_is_sized_by_its_own_error() -> None:
    current, ref = _driver_case()
    base = CountingPredict()(current)
    loose = CountingPredict()
    cf = counterfactual(loose, current, ref, ["x"], threshold=0.5, seed=0, base=base, precision=0.1)
    x = cf["x"]
    assert x["rows"] == PILOT_ROWS and len(loose.calls) == 1  # the pilot was precise enough
    assert x["standard_error"] <= 0.1 * max(x["mean_abs_change"], 0.01)
    categories = CountingPredict()
    counterfactual(categories, current, ref, ["c"], threshold=0.5, seed=0, base=base)
    assert categories.calls[0] < 0.5 * PILOT_ROWS  # base scores given: only the rows the map moved are scored
    tight = CountingPredict()
    cf = counterfactual(tight, current, ref, ["x"], threshold=0.5, seed=0, base=base, precision=0.01)
    x = cf["x"]
    needed = (x["standard_error"] * math.sqrt(x["rows"]) / (0.01 * x["mean_abs_change"])) ** 2
    assert PILOT_ROWS < x["rows"] <= 3000 and len(tight.calls) == 2  # grown once, in one more call
    assert x["rows"] == 3000 or x["rows"] >= 0.8 * needed
    capped = counterfactual(CountingPredict(), current, ref, ["x"], threshold=0.5, seed=0, base=base,
                            precision=0.001, max_rows=1500)
    assert capped["x"]["rows"] == 1500


def test_undrifted_features_have_no_counterfactual_and_rank_by_impact() -> None:
    importance = {"a": 0.2, "b": 0.5, "c": 0.3}
    drifts = [_drift("a", True, 0.5), _drift("b", False, 0.04), _drift("c", False, 0.05)]
    result = rank_impact(drifts, importance, {"a": {"mean_abs_change": 0.03, "flip_share": 0.01,
                                                    "standard_error": 0.002, "rows": 1000.0}}, DriftConfig())
    assert [r["feature"] for r in result.rows] == ["a", "b", "c"]  # b: 0.02 impact before c: 0.015
    a, b, c = result.rows
    assert a["rank_counterfactual"] == 1 and a["counterfactual_rows"] == 1000
    assert b["rank_counterfactual"] is None and math.isnan(b["counterfactual_impact"])
    assert c["counterfactual_rows"] is None and math.isnan(c["counterfactual_flip_share"])
