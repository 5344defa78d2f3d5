"""Permutation importance of each source column, measured on the model's own input matrix.

Permuting a raw input column and then preprocessing gives the same matrix as
preprocessing once and permuting the output columns that source column maps to:
every step lowops builds (impute, scale, one-hot) works row by row. So the
preprocessing runs once, and each of the ``features x repeats`` scorings is the
estimator alone on a matrix. The permutations are scikit-learn's own
(``permutation_importance``: one seed drawn from ``random_state``, a fresh
``RandomState`` of it per column, the shuffles compounding over the repeats), so
the numbers are those ``permutation_importance`` gives on the whole pipeline.
A pipeline of any other shape goes through ``permutation_importance`` itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lowops.model._fast import _is, _one_hot

# Rows importance is measured on (a sample above this) and shuffles per column.
_MAX_ROWS = 5000
_REPEATS = 3


def permutation(pipeline: Any, x: pd.DataFrame, y: Any, scoring: str, seed: int) -> dict[str, float]:
    """Permutation importance of each source column of ``x``, clipped at 0 and normalised to sum 1.

    Permuting the raw input columns attributes one-hot columns to their source
    feature by construction, and works for any estimator.
    """
    from threadpoolctl import threadpool_limits

    sample = x.sample(n=_MAX_ROWS, random_state=seed) if len(x) > _MAX_ROWS else x
    y_sample = np.asarray(y)[x.index.get_indexer(sample.index)]
    # Thousands of rows per scoring: OpenMP threads would mostly wait for one another.
    with threadpool_limits(limits=1):
        slices = _source_slices(pipeline, [str(c) for c in sample.columns])
        if slices is None:
            means = _on_pipeline(pipeline, sample, y_sample, scoring, seed)
        else:
            means = _on_matrix(pipeline, sample, y_sample, slices, scoring, seed)
    raw = np.clip(means, 0, None)
    total = raw.sum()
    values = raw / total if total > 0 else np.full(len(raw), 1 / len(raw))
    return {str(c): float(v) for c, v in zip(sample.columns, values, strict=True)}


def _on_pipeline(pipeline: Any, x: pd.DataFrame, y: np.ndarray, scoring: str, seed: int) -> np.ndarray:
    from sklearn.inspection import permutation_importance

    result = permutation_importance(pipeline, x, y, scoring=scoring, n_repeats=_REPEATS, random_state=seed,
                                    n_jobs=1)
    means: np.ndarray = result.importances_mean
    return means


def _on_matrix(pipeline: Any, x: pd.DataFrame, y: np.ndarray, slices: list[np.ndarray], scoring: str,
               seed: int) -> np.ndarray:
    """``permutation_importance`` of the source columns, each permuting its own output columns."""
    from sklearn.metrics import get_scorer

    matrix = np.asarray(pipeline[:-1].transform(x))
    estimator = pipeline[-1]
    scorer = get_scorer(scoring)
    baseline = scorer(estimator, matrix, y)
    # As permutation_importance does: one seed for all columns, each column's shuffles from it afresh.
    column_seed = np.random.RandomState(seed).randint(np.iinfo(np.int32).max + 1)
    means = np.empty(len(slices))
    for i, columns in enumerate(slices):
        rng = np.random.RandomState(column_seed)
        permuted = matrix.copy()
        order = np.arange(len(matrix))
        found = []
        for _ in range(_REPEATS):
            rng.shuffle(order)
            permuted[:, columns] = permuted[order][:, columns]
            found.append(scorer(estimator, permuted, y))
        means[i] = np.mean(baseline - np.asarray(found))
    return means


def _source_slices(pipeline: Any, columns: list[str]) -> list[np.ndarray] | None:
    """The output columns of each source column, in ``columns``' order; None unless lowops built the pipeline.

    Accepted: ``build_pipeline``'s shape, a dense ColumnTransformer whose numeric
    block keeps one output column per input column (an imputer may drop an
    all-missing one) and whose one-hot block one per category, covering every
    output column once.
    """
    if not _is(pipeline, "sklearn.pipeline", "Pipeline") or len(pipeline.steps) != 2:
        return None
    pre = pipeline.steps[0][1]
    if not _is(pre, "sklearn.compose", "ColumnTransformer") or getattr(pre, "sparse_output_", True):
        return None
    found: dict[str, np.ndarray] = {}
    width = 0
    for name, transformer, block in pre.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if not isinstance(block, list) or not all(isinstance(c, str) for c in block):
            return None
        out = pre.output_indices_[name]
        if name == "num" and _scaled(transformer):
            sizes = [1] * len(block)
        elif name == "cat" and _one_hot(transformer, block):
            sizes = [len(c) for c in transformer.steps[-1][1].categories_]
        else:
            return None
        if sum(sizes) != out.stop - out.start:
            return None
        start = out.start
        for column, size in zip(block, sizes, strict=True):
            found[column] = np.arange(start, start + size)
            start += size
        width = max(width, out.stop)
    if sorted(found) != sorted(columns) or sum(len(s) for s in found.values()) != width:
        return None
    return [found[c] for c in columns]


def _scaled(transformer: Any) -> bool:
    """Impute + scale: each output column is its input column's, row by row."""
    if not _is(transformer, "sklearn.pipeline", "Pipeline") or len(transformer.steps) != 2:
        return False
    impute, scale = (step for _, step in transformer.steps)
    return _is(impute, "sklearn.impute", "SimpleImputer") and _is(scale, "sklearn.preprocessing", "StandardScaler")
