"""Drift statistics on whole columns: reference sketches and their comparison with a window.

A *sketch* summarises one reference column in a few kilobytes, so a drift
check against the training data reads only the current window. Numeric
sketches keep the exact distinct values with their counts when there are at
most ``size`` of them, otherwise ``size`` mid-point quantiles of equal weight
(the reference's CDF is then known to within ``0.5 / size``); both are a
weighted sample, so one code path computes KS and Wasserstein exactly on it.
Medians, IQR, standard deviation and the PSI bins are computed exactly from
the full column when the sketch is built.

Every statistic is defined for empty, constant, all-missing and
single-category columns: a distribution statistic that cannot be computed
(nothing to compare) is NaN, never a division by zero or a crash. No loop
runs over rows: each column is sorted once and read with ``searchsorted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PSI_EPSILON = 1e-4  # floor of a bin's share, so an empty bin adds a large but finite term
OTHER = "__other__"  # reference categories beyond ``max_categories``, pooled
UNSEEN = "__unseen__"  # current categories the reference never saw, pooled


def finite_or_none(value: float) -> float | None:
    """A float for JSON: NaN and infinities become None (``null``), which every parser reads."""
    return value if math.isfinite(value) else None


def _quantiles_sorted(values: FloatArray, probs: FloatArray) -> FloatArray:
    """Quantiles of an already sorted array (numpy's default 'linear' method)."""
    position = probs * (len(values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(values) - 1)
    frac = position - low
    result: FloatArray = values[low] + (values[high] - values[low]) * frac
    return result


def psi(ref_share: FloatArray, cur_share: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` of two share vectors.

    Args:
        ref_share: the reference's share per bin (sums to 1).
        cur_share: the current window's share per bin.
        epsilon: floor of each share (empty bins would make the log infinite).

    Returns:
        The PSI (0 for identical shares), NaN when either vector is empty.
    """
    if len(ref_share) == 0 or len(cur_share) == 0:
        return math.nan
    r = np.maximum(ref_share, epsilon)
    c = np.maximum(cur_share, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(p_counts: FloatArray, q_counts: FloatArray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two count vectors; NaN if either is empty."""
    p_total, q_total = float(np.sum(p_counts)), float(np.sum(q_counts))
    if p_total <= 0 or q_total <= 0:
        return math.nan
    p, q = p_counts / p_total, q_counts / q_total
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def chi2_homogeneity(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Chi-square test that two count vectors come from one distribution (2 x k table).

    Returns:
        ``(statistic, p-value)``; ``(0, 1)`` when fewer than two categories are
        present (nothing to test), NaN when either side is empty.
    """
    from scipy.special import chdtrc

    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] == 0 or rows.min() <= 0:
        return math.nan, math.nan
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(rows, table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(chdtrc(table.shape[1] - 1, statistic))


def ks_pvalue(statistic: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic two-sided p-value of a two-sample KS statistic (scipy's ``method='asymp'``)."""
    if not math.isfinite(statistic) or n_ref <= 0 or n_cur <= 0:
        return math.nan
    from scipy.stats import kstwo

    effective = round(n_ref * n_cur / (n_ref + n_cur))
    return float(np.clip(kstwo.sf(statistic, max(effective, 1)), 0.0, 1.0))


def distinct_cdf(cur_sorted: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The distinct values of a sorted sample and its (right-continuous) CDF at each."""
    ends = np.flatnonzero(np.r_[cur_sorted[1:] != cur_sorted[:-1], True])
    return cur_sorted[ends], (ends + 1) / len(cur_sorted)


def _merged_cdfs(ref_atoms: FloatArray, ref_weights: FloatArray,
                 cur_sorted: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Both CDFs at every point of the merged support, in one linear pass.

    The atoms are inserted into the sorted distinct current values; each
    side's CDF is then laid out by repeating (reference) or inserting
    (current) values at the atoms' positions, so no row is searched for:
    O(n + k) after the one sort of the current column.
    """
    points, cur_cdf = distinct_cdf(cur_sorted)
    ref_cdf = np.cumsum(ref_weights) / np.sum(ref_weights)
    where = np.searchsorted(points, ref_atoms, side="right")
    grid = np.insert(points, where, ref_atoms)
    # At an atom the current CDF is that of the last current value before it.
    at_cur = np.insert(cur_cdf, where, np.r_[0.0, cur_cdf][where])
    positions = where + np.arange(len(ref_atoms))  # of the atoms in the grid
    at_ref = np.repeat(np.r_[0.0, ref_cdf], np.diff(np.r_[0, positions, len(grid)]))
    return grid, at_ref, at_cur


def ks_weighted(ref_atoms: FloatArray, ref_weights: FloatArray, cur_sorted: FloatArray) -> float:
    """Two-sample KS statistic between a weighted reference and a sorted current sample.

    Both CDFs are step functions, so the supremum is reached at one of their
    jump points: evaluating both at every atom and every distinct current
    value gives the exact statistic (what ``scipy.stats.ks_2samp`` computes
    when the weights are counts).
    """
    if len(ref_atoms) == 0 or len(cur_sorted) == 0:
        return math.nan
    grid, at_ref, at_cur = _merged_cdfs(ref_atoms, ref_weights, cur_sorted)
    last = np.r_[grid[1:] != grid[:-1], True]  # where several entries tie, the last holds F(x)
    return float(np.abs(at_ref - at_cur)[last].max())


def wasserstein_weighted(ref_atoms: FloatArray, ref_weights: FloatArray, cur_sorted: FloatArray) -> float:
    """Wasserstein-1 distance ``integral |F_ref - F_cur| dx`` (scipy's algorithm, with weights)."""
    if len(ref_atoms) == 0 or len(cur_sorted) == 0:
        return math.nan
    grid, at_ref, at_cur = _merged_cdfs(ref_atoms, ref_weights, cur_sorted)
    return float(np.sum(np.abs(at_ref - at_cur)[:-1] * np.diff(grid)))


def ks_and_wasserstein(ref_atoms: FloatArray, ref_weights: FloatArray, cur_sorted: FloatArray) -> tuple[float, float]:
    """Both statistics from one merged pass (what :func:`numeric_drift` uses)."""
    if len(ref_atoms) == 0 or len(cur_sorted) == 0:
        return math.nan, math.nan
    grid, at_ref, at_cur = _merged_cdfs(ref_atoms, ref_weights, cur_sorted)
    gap = np.abs(at_ref - at_cur)
    last = np.r_[grid[1:] != grid[:-1], True]
    return float(gap[last].max()), float(np.sum(gap[:-1] * np.diff(grid)))


@dataclass(frozen=True)
class NumericSketch:
    """A numeric reference column: counts, exact location and spread, PSI bins, a weighted sample."""

    rows: int
    missing: int
    atoms: FloatArray
    weights: FloatArray
    exact: bool  # atoms are the distinct values with their counts
    median: float
    q25: float
    q75: float
    std: float
    min: float
    max: float
    edges: FloatArray  # interior PSI cut points: bins (-inf, e1], (e1, e2], ..., (ek, inf)
    bin_share: FloatArray

    @property
    def valid(self) -> int:
        return self.rows - self.missing

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "numeric", "rows": self.rows, "missing": self.missing, "exact": self.exact,
                "atoms": self.atoms.tolist(), "weights": self.weights.tolist(),
                **{key: finite_or_none(getattr(self, key)) for key in ("median", "q25", "q75", "std", "min", "max")},
                "edges": self.edges.tolist(),
                "bin_share": self.bin_share.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSketch:
        def arr(key: str) -> FloatArray:
            return np.asarray(data[key], dtype=float)

        def num(key: str) -> float:
            return math.nan if data[key] is None else float(data[key])

        return cls(int(data["rows"]), int(data["missing"]), arr("atoms"), arr("weights"), bool(data["exact"]),
                   num("median"), num("q25"), num("q75"), num("std"), num("min"), num("max"),
                   arr("edges"), arr("bin_share"))


@dataclass(frozen=True)
class CategoricalSketch:
    """A categorical reference column: rows, missing, count per category (rare ones pooled)."""

    rows: int
    missing: int
    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0  # rows in categories beyond ``max_categories``

    @property
    def valid(self) -> int:
        return self.rows - self.missing

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "categorical", "rows": self.rows, "missing": self.missing,
                "counts": dict(self.counts), "other": self.other}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalSketch:
        return cls(int(data["rows"]), int(data["missing"]),
                   {str(k): int(v) for k, v in data["counts"].items()}, int(data.get("other", 0)))


def as_float(values: Any) -> tuple[FloatArray, int]:
    """A column as float64 with the missing (NaN, None, +-inf) dropped, and how many were dropped."""
    array = np.asarray(values, dtype=float) if not hasattr(values, "to_numpy") else \
        values.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(array)
    return (array if finite.all() else array[finite]), int(len(array) - finite.sum())


def numeric_sketch(values: Any, *, size: int = 1000, bins: int = 10) -> NumericSketch:
    """Sketch a numeric reference column (non-finite values count as missing).

    Args:
        values: the column (array or Series).
        size: distinct values kept exactly up to this many; beyond, this many quantiles.
        bins: PSI bins, cut at the reference's quantiles (ties merge bins).

    Returns:
        The sketch.
    """
    finite, missing = as_float(values)
    v = np.sort(finite)
    n = len(v)
    if n == 0:
        empty = np.empty(0)
        nan = math.nan
        return NumericSketch(missing, missing, empty, empty, True, nan, nan, nan, nan, nan, nan, empty, empty)
    change = np.r_[True, v[1:] != v[:-1]]
    starts = np.flatnonzero(change)
    if len(starts) <= size:
        atoms, weights, exact = v[starts], np.diff(np.r_[starts, n]).astype(float), True
    else:
        atoms = _quantiles_sorted(v, (np.arange(size) + 0.5) / size)
        weights, exact = np.full(size, n / size), False
    median, q25, q75 = _quantiles_sorted(v, np.array([0.5, 0.25, 0.75]))
    edges = np.unique(_quantiles_sorted(v, np.arange(1, bins) / bins)) if bins > 1 else np.empty(0)
    below = np.searchsorted(v, edges, side="right")
    bin_share = np.diff(np.r_[0, below, n]) / n
    centred = v - v.mean()
    std = math.sqrt(float(np.dot(centred, centred)) / n)  # np.std, without its generic reduction
    return NumericSketch(n + missing, missing, atoms, weights, exact, float(median), float(q25), float(q75),
                         std, float(v[0]), float(v[-1]), edges, bin_share)


def categorical_sketch(values: Any, *, max_categories: int = 1000) -> CategoricalSketch:
    """Sketch a categorical reference column (values compared as text; None/NaN are missing)."""
    counts, rows, missing = categorical_counts(values)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))  # over categories, not rows
    kept = dict(ranked[:max_categories])
    return CategoricalSketch(rows, missing, kept, sum(count for _, count in ranked[max_categories:]))


def _spread(*candidates: float) -> float:
    """The first positive, finite candidate, else 1 (a constant reference: the feature's own units)."""
    for value in candidates:
        if math.isfinite(value) and value > 0:
            return value
    return 1.0


def numeric_drift(sketch: NumericSketch, values: Any) -> dict[str, Any]:
    """Every numeric statistic of a current column against its reference sketch.

    Returns:
        ``median_ref``, ``median_cur``, ``iqr_ref``, ``median_shift``
        (``|median_cur - median_ref| / IQR_ref``; the reference standard
        deviation when the IQR is 0, then 1), ``psi``, ``ks``, ``ks_pvalue``,
        ``wasserstein`` and ``wasserstein_norm`` (divided by the reference
        standard deviation, else IQR, else 1), missing rates and their change,
        and ``status``: ``ok``, ``no_data`` (nothing current to compare) or
        ``no_reference``.
    """
    finite, missing = as_float(values)
    cur = np.sort(finite)
    rows = len(cur) + missing
    out: dict[str, Any] = {
        "rows_ref": sketch.rows, "rows_cur": rows,
        "missing_ref": sketch.missing / sketch.rows if sketch.rows else math.nan,
        "missing_cur": missing / rows if rows else math.nan,
        "median_ref": sketch.median, "iqr_ref": sketch.iqr, "median_cur": math.nan,
        "median_shift": math.nan, "psi": math.nan, "ks": math.nan, "ks_pvalue": math.nan,
        "wasserstein": math.nan, "wasserstein_norm": math.nan,
    }
    out["missing_change"] = out["missing_cur"] - out["missing_ref"]
    if len(cur) == 0 or sketch.valid == 0:
        out["status"] = "no_data" if len(cur) == 0 else "no_reference"
        return out
    out["status"] = "ok"
    median = float(_quantiles_sorted(cur, np.array([0.5]))[0])
    out["median_cur"] = median
    out["median_shift"] = abs(median - sketch.median) / _spread(sketch.iqr, sketch.std)
    below = np.searchsorted(cur, sketch.edges, side="right")
    out["psi"] = psi(sketch.bin_share, np.diff(np.r_[0, below, len(cur)]) / len(cur))
    out["ks"], out["wasserstein"] = ks_and_wasserstein(sketch.atoms, sketch.weights, cur)
    out["ks_pvalue"] = ks_pvalue(out["ks"], sketch.valid, len(cur))
    out["wasserstein_norm"] = out["wasserstein"] / _spread(sketch.std, sketch.iqr)
    return out


def categorical_counts(values: Any) -> tuple[dict[str, int], int, int]:
    """Category counts of a current column, its row count and its missing count."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    counts = series.value_counts(dropna=True)
    rows = int(len(series))
    total: dict[str, int] = {}
    for key, count in counts.items():  # a loop over categories, not rows
        if count <= 0:  # a categorical dtype lists categories with no row
            continue
        label = str(key)
        total[label] = total.get(label, 0) + int(count)
    return total, rows, rows - int(counts.sum())


def categorical_drift(sketch: CategoricalSketch, values: Any) -> dict[str, Any]:
    """Every categorical statistic of a current column against its reference sketch.

    Current categories the reference never saw are pooled into one bucket (a
    flood of new ids must not blow up PSI one bin at a time); when the
    reference pooled rare categories, unknown current ones are counted with
    them instead, since they may be those rare ones.

    Returns:
        ``psi``, ``jensen_shannon``, ``chi2``, ``chi2_pvalue``, ``unseen_share``
        (share of current rows in categories the reference never saw),
        ``unseen``/``vanished`` (category lists), missing rates and their change,
        ``status`` as for :func:`numeric_drift`.
    """
    cur, rows, missing = categorical_counts(values)
    valid = rows - missing
    out: dict[str, Any] = {
        "rows_ref": sketch.rows, "rows_cur": rows,
        "missing_ref": sketch.missing / sketch.rows if sketch.rows else math.nan,
        "missing_cur": missing / rows if rows else math.nan,
        "psi": math.nan, "jensen_shannon": math.nan, "chi2": math.nan, "chi2_pvalue": math.nan,
        "unseen_share": math.nan, "categories_ref": len(sketch.counts), "categories_cur": len(cur),
    }
    out["missing_change"] = out["missing_cur"] - out["missing_ref"]
    unseen = sorted(k for k in cur if k not in sketch.counts)
    out["unseen"] = unseen if not sketch.other else []
    out["vanished"] = sorted(k for k, v in sketch.counts.items() if v > 0 and cur.get(k, 0) == 0)
    if valid == 0 or sketch.valid == 0:
        out["status"] = "no_data" if valid == 0 else "no_reference"
        return out
    out["status"] = "ok"
    names = list(sketch.counts)
    ref_counts = [float(sketch.counts[k]) for k in names]
    cur_counts = [float(cur.get(k, 0)) for k in names]
    pooled = float(sum(cur[k] for k in unseen))
    if sketch.other or pooled:
        ref_counts.append(float(sketch.other))
        cur_counts.append(pooled)
    ref_arr, cur_arr = np.asarray(ref_counts), np.asarray(cur_counts)
    out["unseen_share"] = 0.0 if sketch.other else pooled / valid
    out["psi"] = psi(ref_arr / ref_arr.sum(), cur_arr / cur_arr.sum())
    out["jensen_shannon"] = jensen_shannon(ref_arr, cur_arr)
    out["chi2"], out["chi2_pvalue"] = chi2_homogeneity(ref_arr, cur_arr)
    return out


def sketch_from_dict(data: dict[str, Any]) -> NumericSketch | CategoricalSketch:
    """Rebuild a sketch from its JSON form."""
    if data["kind"] == "numeric":
        return NumericSketch.from_dict(data)
    return CategoricalSketch.from_dict(data)
