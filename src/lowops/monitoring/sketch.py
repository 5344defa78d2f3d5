"""Reference sketches: one column summarised in a few kilobytes, built once at training time.

A numeric sketch keeps the exact distinct values with their counts when there
are at most ``size`` of them, otherwise ``size`` mid-point quantiles of equal
weight (the reference's CDF is then known to within ``0.5 / size``); either
way it is a weighted sample, so KS and Wasserstein are computed exactly on
it. Medians, IQR, standard deviation, range and the PSI bins are computed
exactly from the full column. A categorical sketch keeps the count of each
category (the rarest pooled beyond ``max_categories``) and of missing values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def finite_or_none(value: float) -> float | None:
    """A float for JSON: NaN and infinities become None (``null``), which every parser reads."""
    return value if math.isfinite(value) else None


def quantiles_sorted(values: FloatArray, probs: FloatArray) -> FloatArray:
    """Quantiles of an already sorted array (numpy's default 'linear' method)."""
    position = probs * (len(values) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(values) - 1)
    frac = position - low
    result: FloatArray = values[low] + (values[high] - values[low]) * frac
    return result


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
        atoms = quantiles_sorted(v, (np.arange(size) + 0.5) / size)
        weights, exact = np.full(size, n / size), False
    median, q25, q75 = quantiles_sorted(v, np.array([0.5, 0.25, 0.75]))
    edges = np.unique(quantiles_sorted(v, np.arange(1, bins) / bins)) if bins > 1 else np.empty(0)
    below = np.searchsorted(v, edges, side="right")
    bin_share = np.diff(np.r_[0, below, n]) / n
    centred = v - v.mean()
    std = math.sqrt(float(np.dot(centred, centred)) / n)  # np.std, without its generic reduction
    return NumericSketch(n + missing, missing, atoms, weights, exact, float(median), float(q25), float(q75),
                         std, float(v[0]), float(v[-1]), edges, bin_share)


def categorical_sketch(values: Any, *, max_categories: int = 1000) -> CategoricalSketch:
    """Sketch a categorical reference column (values compared as text; None/NaN are missing).

    Args:
        values: the column.
        max_categories: categories kept by frequency; the rarer ones are pooled.

    Returns:
        The sketch.
    """
    counts, rows, missing = categorical_counts(values)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))  # over categories, not rows
    kept = dict(ranked[:max_categories])
    return CategoricalSketch(rows, missing, kept, sum(count for _, count in ranked[max_categories:]))


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


def sketch_from_dict(data: dict[str, Any]) -> NumericSketch | CategoricalSketch:
    """Rebuild a sketch from its JSON form."""
    if data["kind"] == "numeric":
        return NumericSketch.from_dict(data)
    return CategoricalSketch.from_dict(data)
