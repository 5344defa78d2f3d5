"""Drift statistics against scipy (to 1e-9) and by hand, edge cases, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lowops.monitoring.stats import (
    CategoricalSketch,
    NumericSketch,
    categorical_drift,
    categorical_sketch,
    chi2_homogeneity,
    jensen_shannon,
    ks_weighted,
    numeric_drift,
    numeric_sketch,
    psi,
    sketch_from_dict,
    wasserstein_weighted,
)

TOL = 1e-9


def _samples(seed: int, n_ref: int, n_cur: int, shift: float, decimals: int | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 1, n_ref), rng.normal(shift, 1.3, n_cur)
    if decimals is not None:  # ties, as in money or counts
        ref, cur = ref.round(decimals), cur.round(decimals)
    return ref, cur


@pytest.mark.parametrize(("n_ref", "n_cur", "shift", "decimals"), [
    (300, 500, 0.0, None), (800, 150, 0.4, 1), (2000, 2000, 0.1, 0), (50, 3000, -1.0, 2),
])
def test_exact_sketch_matches_scipy(n_ref: int, n_cur: int, shift: float, decimals: int | None) -> None:
    ref, cur = _samples(n_ref + n_cur, n_ref, n_cur, shift, decimals)
    sketch = numeric_sketch(ref, size=5000)
    assert sketch.exact
    got = numeric_drift(sketch, cur)
    ks = stats.ks_2samp(ref, cur, method="asymp")
    assert got["ks"] == pytest.approx(ks.statistic, abs=TOL)
    assert got["ks_pvalue"] == pytest.approx(ks.pvalue, abs=TOL)
    assert got["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref, cur), abs=TOL)
    assert got["wasserstein_norm"] == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref), abs=TOL)
    q25, median, q75 = np.quantile(ref, [0.25, 0.5, 0.75])
    assert got["median_ref"] == pytest.approx(median, abs=TOL)
    assert got["median_cur"] == pytest.approx(np.median(cur), abs=TOL)
    assert got["median_shift"] == pytest.approx(abs(np.median(cur) - median) / (q75 - q25), abs=TOL)


def test_quantile_sketch_is_a_weighted_sample_scipy_agrees_on() -> None:
    ref, cur = _samples(7, 40_000, 9_000, 0.2, None)
    sketch = numeric_sketch(ref, size=500)
    assert not sketch.exact and len(sketch.atoms) == 500
    got = numeric_drift(sketch, cur)
    # Exactly scipy's Wasserstein on the sketch's weighted atoms ...
    assert got["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(sketch.atoms, cur, u_weights=sketch.weights), abs=TOL)
    # ... and within the sketch's resolution of the statistics on the full reference.
    assert got["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=0.5 / 500 + 1e-12)
    assert got["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref, cur), rel=0.01)
    assert got["median_ref"] == pytest.approx(np.median(ref), abs=TOL)  # exact, not from the sketch


def test_weighted_ks_and_wasserstein_with_integer_weights_equal_repeated_samples() -> None:
    atoms, counts = np.array([0.0, 1.0, 2.5, 4.0]), np.array([3.0, 1.0, 4.0, 2.0])
    cur = np.sort(np.array([0.0, 0.5, 2.5, 2.5, 3.0, 7.0]))
    repeated = np.repeat(atoms, counts.astype(int))
    assert ks_weighted(atoms, counts, cur) == pytest.approx(stats.ks_2samp(repeated, cur).statistic, abs=TOL)
    assert wasserstein_weighted(atoms, counts, cur) == pytest.approx(
        stats.wasserstein_distance(repeated, cur), abs=TOL)


def test_psi_by_hand() -> None:
    ref, cur = np.array([0.5, 0.3, 0.2]), np.array([0.25, 0.25, 0.5])
    expected = sum((c - r) * math.log(c / r) for r, c in zip(ref, cur))
    assert psi(ref, cur) == pytest.approx(expected, abs=TOL)
    # An empty bin is floored at 1e-4, never a division by zero.
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.4, 0.1])) == pytest.approx(
        (0.4 - 0.5) * math.log(0.8) + (0.1 - 1e-4) * math.log(0.1 / 1e-4), abs=TOL)


def test_numeric_psi_uses_reference_quantile_bins() -> None:
    ref = np.arange(1, 101, dtype=float)
    sketch = numeric_sketch(ref, bins=4)
    assert sketch.edges.tolist() == pytest.approx(list(np.quantile(ref, [0.25, 0.5, 0.75])))
    assert sketch.bin_share.tolist() == [0.25, 0.25, 0.25, 0.25]
    cur = np.r_[np.full(50, 10.0), np.full(50, 90.0)]  # half in the first bin, half in the last
    assert numeric_drift(sketch, cur)["psi"] == pytest.approx(psi(np.full(4, 0.25), np.array([0.5, 0, 0, 0.5])))


def test_categorical_statistics_match_scipy() -> None:
    ref = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    cur = ["a"] * 20 + ["b"] * 30 + ["d"] * 10 + [None] * 5  # c vanished, d is new
    got = categorical_drift(categorical_sketch(ref), cur)
    ref_counts = np.array([50, 30, 20, 0.0])  # a, b, c, then the pooled unseen bucket
    cur_counts = np.array([20, 30, 0, 10.0])
    chi2, p, _, _ = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    assert got["chi2"] == pytest.approx(chi2, abs=TOL)
    assert got["chi2_pvalue"] == pytest.approx(p, abs=TOL)
    assert got["jensen_shannon"] == pytest.approx(jensenshannon(ref_counts, cur_counts, base=2), abs=TOL)
    assert got["psi"] == pytest.approx(psi(ref_counts / 100, cur_counts / 60), abs=TOL)
    assert got["unseen_share"] == pytest.approx(10 / 60)
    assert got["unseen"] == ["d"] and got["vanished"] == ["c"]
    assert got["missing_change"] == pytest.approx(5 / 65)


def test_chi2_and_js_helpers_on_their_own() -> None:
    a, b = np.array([10.0, 20, 30, 0]), np.array([15.0, 15, 25, 5])
    chi2, p, _, _ = stats.chi2_contingency(np.vstack([a, b])[:, [0, 1, 2, 3]], correction=False)
    assert chi2_homogeneity(a, b) == pytest.approx((chi2, p), abs=TOL)
    assert jensen_shannon(a, b) == pytest.approx(jensenshannon(a, b, base=2), abs=TOL)


@pytest.mark.parametrize("ref, cur", [
    ([], [1.0, 2.0]), ([1.0, 2.0], []), ([], []), ([np.nan] * 5, [1.0, 2.0]), ([1.0, 2.0], [np.nan] * 4),
    ([3.0] * 10, [3.0] * 7), ([3.0] * 10, [4.0] * 7), ([0.0] * 10, [0.0, np.inf, -np.inf]),
])
def test_numeric_edge_cases_are_defined(ref: list[float], cur: list[float]) -> None:
    with np.errstate(all="raise"):  # any division by zero would raise here
        got = numeric_drift(numeric_sketch(np.asarray(ref, dtype=float)), np.asarray(cur, dtype=float))
    assert got["status"] in ("ok", "no_data", "no_reference")
    for key in ("median_shift", "psi", "ks", "wasserstein_norm"):
        assert not math.isinf(got[key])
    if got["status"] != "ok":
        assert math.isnan(got["median_shift"]) and math.isnan(got["ks"])


def test_constant_columns() -> None:
    same = numeric_drift(numeric_sketch(np.full(10, 3.0)), np.full(7, 3.0))
    assert (same["median_shift"], same["psi"], same["ks"], same["wasserstein"]) == (0.0, 0.0, 0.0, 0.0)
    moved = numeric_drift(numeric_sketch(np.full(10, 3.0)), np.full(7, 4.0))
    assert moved["median_shift"] == 1.0  # IQR and std are 0: the shift is in the feature's units
    assert moved["ks"] == 1.0 and moved["wasserstein_norm"] == 1.0
    all_missing = numeric_drift(numeric_sketch([1.0, 2.0]), [np.nan, np.nan])
    assert all_missing["status"] == "no_data" and all_missing["missing_change"] == 1.0


def test_iqr_zero_falls_back_to_std() -> None:
    ref = np.r_[np.zeros(90), np.ones(10)]  # IQR 0, std 0.3
    got = numeric_drift(numeric_sketch(ref), np.ones(10))
    assert got["median_shift"] == pytest.approx(1 / np.std(ref))


@pytest.mark.parametrize("ref, cur", [
    ([], ["a"]), (["a"], []), ([None, None], ["a"]), (["a", "a"], ["a"]), (["a"] * 3, ["b"] * 2),
    (["a", "b"], [None]),
])
def test_categorical_edge_cases_are_defined(ref: list[str | None], cur: list[str | None]) -> None:
    with np.errstate(all="raise"):
        got = categorical_drift(categorical_sketch(pd.Series(ref, dtype=object)), pd.Series(cur, dtype=object))
    assert got["status"] in ("ok", "no_data", "no_reference")
    if got["status"] == "ok" and ref == ["a", "a"]:
        assert (got["psi"], got["chi2_pvalue"], got["jensen_shannon"]) == (0.0, 1.0, 0.0)  # one category


def test_rare_categories_are_pooled_and_sketches_round_trip() -> None:
    ref = pd.Series(["a"] * 5 + ["b"] * 3 + ["c", "d"])
    sketch = categorical_sketch(ref, max_categories=2)
    assert sketch.counts == {"a": 5, "b": 3} and sketch.other == 2
    got = categorical_drift(sketch, ["a", "c", "zz"])
    assert got["unseen"] == [] and got["unseen_share"] == 0.0  # may be among the pooled rare ones
    assert sketch_from_dict(sketch.to_dict()) == sketch
    numeric = numeric_sketch(np.arange(3000.0) % 7, size=5)
    back = sketch_from_dict(numeric.to_dict())
    assert isinstance(back, NumericSketch) and back.atoms.tolist() == numeric.atoms.tolist()
    assert isinstance(sketch_from_dict(CategoricalSketch(0, 0).to_dict()), CategoricalSketch)


# --- properties -------------------------------------------------------------------------

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=1, max_size=200))
def test_identical_samples_show_no_drift(values: list[float]) -> None:
    got = numeric_drift(numeric_sketch(values), values)
    assert got["median_shift"] == 0 and got["ks"] == 0 and got["psi"] == 0
    assert got["wasserstein"] == pytest.approx(0, abs=1e-9 * (1 + max(map(abs, values))))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=2, max_size=150),
       st.lists(st.floats(min_value=0, max_value=50), min_size=2, max_size=6))
@example(values=[0.0, 2.2250738585072014e-308], shifts=[2.0, 2.0])  # an IQR of 1e-308: median shift inf
def test_a_growing_shift_never_lowers_the_score(values: list[float], shifts: list[float]) -> None:
    sketch = numeric_sketch(values)
    previous = None
    for shift in sorted(shifts):
        got = numeric_drift(sketch, np.asarray(values) + shift)
        now = (got["median_shift"], got["ks"], got["wasserstein"])
        if previous is not None:
            # b >= a first: with a = inf the tolerance term is inf - inf, which is NaN
            assert all(b >= a or b >= a - 1e-9 * (1 + abs(a)) for a, b in zip(previous, now)), (previous, now)
        previous = now


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=80), st.randoms())
def test_row_order_does_not_matter(values: list[str], random: object) -> None:
    shuffled = list(values)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    sketch = categorical_sketch(["a", "b", "b", "c"])
    assert categorical_drift(sketch, values) == categorical_drift(sketch, shuffled)
    numbers = [float(len(v) * i % 7) for i, v in enumerate(values)]
    perm = list(numbers)
    random.shuffle(perm)  # type: ignore[attr-defined]
    assert numeric_drift(numeric_sketch(numbers), numbers) == numeric_drift(numeric_sketch(perm), perm)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=6),
       st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=6))
def test_moving_mass_into_one_category_never_lowers_psi_or_js(counts: list[int], mixes: list[float]) -> None:
    ref = np.asarray(counts, dtype=float) / sum(counts)
    target = np.zeros(len(ref))
    target[0] = 1.0
    previous = (0.0, 0.0)
    for t in sorted(mixes):
        cur = (1 - t) * ref + t * target
        now = (psi(ref, cur), jensen_shannon(ref, cur))
        assert now[0] >= previous[0] - 1e-12 and now[1] >= previous[1] - 1e-12
        previous = now
