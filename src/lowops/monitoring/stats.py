"""Drift statistics on whole columns: a window's column against its reference sketch.

Every statistic is defined for empty, constant, all-missing and
single-category columns: a distribution statistic that cannot be computed
(nothing to compare) is NaN, never a division by zero or a crash. No loop
runs over rows: each column is sorted once and read with ``searchsorted``
and one linear merge with the reference's atoms.

The sketches themselves live in :mod:`lowops.monitoring.sketch` and are
re-exported here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lowops.monitoring.sketch import (  # re-exported: the statistics' public vocabulary
    CategoricalSketch,
    FloatArray,
    NumericSketch,
    as_float,
    categorical_counts,
    categorical_sketch,
    finite_or_none,
    numeric_sketch,
    quantiles_sorted,
    sketch_from_dict,
)

__all__ = ["CategoricalSketch", "FloatArray", "NumericSketch", "as_float", "categorical_counts",
           "categorical_drift", "categorical_sketch", "chi2_homogeneity", "finite_or_none", "jensen_shannon",
           "ks_and_wasserstein", "ks_pvalue", "ks_weighted", "numeric_drift", "numeric_sketch", "psi",
           "quantiles_sorted", "sketch_from_dict", "wasserstein_weighted"]

PSI_EPSILON = 1e-4  # floor of a bin's share, so an empty bin adds a large but finite term


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
    """Jensen-Shannon distance (base 2, in [0, 1]) of two count vectors.

    Args:
        p_counts: counts (or shares) per category of one side.
        q_counts: the other side's, aligned with ``p_counts``.

    Returns:
        The distance (``scipy.spatial.distance.jensenshannon(p, q, base=2)``), NaN if either is empty.
    """
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

    Args:
        ref_counts: the reference's count per category.
        cur_counts: the current window's, aligned with ``ref_counts``.

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
    """Asymptotic two-sided p-value of a two-sample KS statistic (scipy's ``method='asymp'``).

    Args:
        statistic: the KS statistic.
        n_ref: the reference's sample size (non-missing rows, not sketch atoms).
        n_cur: the current sample's size.

    Returns:
        The p-value, NaN when a sample is empty.
    """
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

    Args:
        ref_atoms: the reference's sorted distinct values (or quantiles).
        ref_weights: the weight of each atom.
        cur_sorted: the current sample, sorted, without missing values.

    Returns:
        The statistic, NaN when either side is empty.
    """
    if len(ref_atoms) == 0 or len(cur_sorted) == 0:
        return math.nan
    grid, at_ref, at_cur = _merged_cdfs(ref_atoms, ref_weights, cur_sorted)
    last = np.r_[grid[1:] != grid[:-1], True]  # where several entries tie, the last holds F(x)
    return float(np.abs(at_ref - at_cur)[last].max())


def wasserstein_weighted(ref_atoms: FloatArray, ref_weights: FloatArray, cur_sorted: FloatArray) -> float:
    """Wasserstein-1 distance ``integral |F_ref - F_cur| dx`` (scipy's algorithm, with weights).

    Args:
        ref_atoms: the reference's sorted distinct values (or quantiles).
        ref_weights: the weight of each atom.
        cur_sorted: the current sample, sorted, without missing values.

    Returns:
        The distance in the feature's units, NaN when either side is empty.
    """
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


def _spread(*candidates: float) -> float:
    """The first positive, finite candidate, else 1 (a constant reference: the feature's own units)."""
    for value in candidates:
        if math.isfinite(value) and value > 0:
            return value
    return 1.0


def numeric_drift(sketch: NumericSketch, values: Any) -> dict[str, Any]:
    """Every numeric statistic of a current column against its reference sketch.

    Args:
        sketch: the reference column's sketch.
        values: the current column (non-finite values count as missing).

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
    median = float(quantiles_sorted(cur, np.array([0.5]))[0])
    out["median_cur"] = median
    out["median_shift"] = abs(median - sketch.median) / _spread(sketch.iqr, sketch.std)
    below = np.searchsorted(cur, sketch.edges, side="right")
    out["psi"] = psi(sketch.bin_share, np.diff(np.r_[0, below, len(cur)]) / len(cur))
    out["ks"], out["wasserstein"] = ks_and_wasserstein(sketch.atoms, sketch.weights, cur)
    out["ks_pvalue"] = ks_pvalue(out["ks"], sketch.valid, len(cur))
    out["wasserstein_norm"] = out["wasserstein"] / _spread(sketch.std, sketch.iqr)
    return out


def categorical_drift(sketch: CategoricalSketch, values: Any) -> dict[str, Any]:
    """Every categorical statistic of a current column against its reference sketch.

    Current categories the reference never saw are pooled into one bucket (a
    flood of new ids must not blow up PSI one bin at a time); when the
    reference pooled rare categories, unknown current ones are counted with
    them instead, since they may be those rare ones.

    Args:
        sketch: the reference column's sketch.
        values: the current column (None/NaN are missing).

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
