"""Scoring an Arrow batch with the fitted pipeline, without its per-cell Python work.

The pipeline lowops builds (:func:`lowops.model.build.build_pipeline`) one-hot encodes text
columns with scikit-learn, which compares Python strings one cell at a time:
on a million rows that is seconds, and the text columns must first become
Python objects. Both steps are row-wise, so the same numbers come from
encoding each column's *distinct* values once and gathering them by the
column's Arrow dictionary indices. The numeric block and the estimator are the
fitted objects themselves, fed exactly the matrix the pipeline would build.

:class:`Scorer` accepts only that structure (checked piece by piece) and
scores the start of its first batch both ways, compared bit for bit; anything
else, and any chunk with a value the fast path cannot take, goes through the
pipeline's own ``predict_proba``/``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lowops.model.card import Contract
from lowops.model.threads import for_rows


def _is(obj: Any, module: str, name: str) -> bool:
    cls = type(obj)
    return cls.__name__ == name and cls.__module__.startswith(module)


def _plan(model: Any, contract: Contract) -> dict[str, Any] | None:
    """The pieces of a pipeline built by ``build_pipeline``, or None for any other shape."""
    if not _is(model, "sklearn.pipeline", "Pipeline") or len(model.steps) != 2:
        return None
    pre, estimator = model.steps[0][1], model.steps[1][1]
    if not _is(pre, "sklearn.compose", "ColumnTransformer") or getattr(pre, "sparse_output_", True):
        return None
    kinds = {c.name: c.kind for c in contract.columns}
    blocks, covered = [], 0
    for name, transformer, columns in pre.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if not isinstance(columns, list) or not all(isinstance(c, str) and c in kinds for c in columns):
            return None
        out = pre.output_indices_[name]
        if name == "num" and all(kinds[c] == "numeric" for c in columns):
            blocks.append(("numeric", transformer, columns, out))
        elif name == "cat" and all(kinds[c] == "categorical" for c in columns) and _one_hot(transformer, columns):
            blocks.append(("categorical", transformer, columns, out))
        else:
            return None
        covered += out.stop - out.start
    width = max((out.stop for *_, out in blocks), default=0)
    if covered != width:
        return None
    return {"blocks": blocks, "width": width, "estimator": estimator}


def _one_hot(transformer: Any, columns: list[str]) -> bool:
    """An impute + one-hot pipeline whose output splits into one slice per input column."""
    if not _is(transformer, "sklearn.pipeline", "Pipeline"):
        return False
    steps = [step for _, step in transformer.steps]
    if len(steps) != 2 or not _is(steps[0], "sklearn.impute", "SimpleImputer"):
        return False
    encoder = steps[1]
    if not _is(encoder, "sklearn.preprocessing", "OneHotEncoder") or encoder.drop is not None:
        return False
    if getattr(encoder, "_infrequent_enabled", False) or len(encoder.categories_) != len(columns):
        return False
    return True


def _numeric_block(batch: Any, columns: list[str]) -> pd.DataFrame:
    arrays = {}
    for name in columns:
        values = batch.column(name).to_numpy(zero_copy_only=False)
        if values.dtype == object:
            raise _Fallback  # text in a numeric column: the pipeline path reports it
        values = values.astype(float, copy=False)
        if np.isinf(values).any():
            values = np.where(np.isinf(values), np.nan, values)  # policy: ±inf is a missing value
        arrays[name] = values
    return pd.DataFrame(arrays, copy=False)


def _categorical_parts(batch: Any, transformer: Any, columns: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per column: its one-hot rows for each distinct value, and each row's index into them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = []
    for name in columns:
        values = batch.column(name)
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            if not pa.types.is_null(values.type):
                raise _Fallback
            values = values.cast(pa.string())
        dictionary = pc.dictionary_encode(values, null_encoding="encode")
        uniques = dictionary.dictionary.to_numpy(zero_copy_only=False).astype(object)
        uniques[pd.isna(uniques)] = None  # what ``predict.model_input`` gives for a missing value
        encoded.append((uniques, dictionary.indices.to_numpy(zero_copy_only=False)))
    rows = max((len(uniques) for uniques, _ in encoded), default=0)
    if rows == 0:
        return []
    # One small frame: row i holds the i-th distinct value of every column (padded
    # with its first values); each output slice depends on its own column only.
    small = pd.DataFrame({name: pd.Series(np.resize(uniques, rows), dtype=object)
                          for name, (uniques, _) in zip(columns, encoded, strict=True)})
    table = transformer.transform(small)
    encoder = transformer.steps[-1][1]
    parts, start = [], 0
    for (_, indices), categories in zip(encoded, encoder.categories_, strict=True):
        stop = start + len(categories)
        parts.append((np.ascontiguousarray(table[:, start:stop]), indices))
        start = stop
    return parts


class _Fallback(Exception):
    """This batch goes through the pipeline's own method."""


# Rows per model call: the model's input matrix (every one-hot column as float64) is
# built this many rows at a time, so it stays small beside the chunk itself.
_BLOCK_ROWS = 16_384


def _fast(plan: dict[str, Any], batch: Any, task: str) -> np.ndarray:
    n = batch.num_rows
    filled: list[tuple[slice, np.ndarray | None, list[tuple[np.ndarray, np.ndarray]] | None]] = []
    for kind, transformer, columns, out in plan["blocks"]:
        if kind == "numeric":
            filled.append((out, transformer.transform(_numeric_block(batch, columns)), None))
        else:
            filled.append((out, None, _categorical_parts(batch, transformer, columns)))
    estimator = plan["estimator"]
    k = class_count(estimator, task)
    scores = np.empty((n, k) if k > 2 else n, dtype=float)
    for low in range(0, n, _BLOCK_ROWS):
        high = min(low + _BLOCK_ROWS, n)
        matrix = np.empty((high - low, plan["width"]), dtype=float)
        for out, dense, parts in filled:
            if dense is not None:
                matrix[:, out] = dense[low:high]
                continue
            start = out.start
            assert parts is not None
            for table, indices in parts:
                stop = start + table.shape[1]
                # Indices come from the dictionary just built: none is out of range ("clip" skips buffering).
                np.take(table, indices[low:high], axis=0, out=matrix[:, start:stop], mode="clip")
                start = stop
        if not np.isfinite(matrix).all():
            raise _Fallback  # e.g. 1e308 scaled to inf: the pipeline path rejects such rows one by one
        if task == "classification":
            scores[low:high] = class_scores(estimator.predict_proba(matrix))
        else:
            scores[low:high] = estimator.predict(matrix)
    return scores


def class_count(model: Any, task: str) -> int:
    """How many classes a fitted classifier scores (0 for a regressor): more than two, one score column each."""
    return len(getattr(model, "classes_", ())) if task == "classification" else 0


def class_scores(proba: np.ndarray) -> np.ndarray:
    """A classifier's scores from ``predict_proba``: class 1's probability of two, every class's of more."""
    return proba[:, 1] if proba.shape[1] == 2 else proba


class Scorer:
    """Scores Arrow batches exactly as the pipeline does, faster when the model allows.

    Picklable, so an engine can ship it to Dask workers with each partition.

    Args:
        model: the fitted pipeline.
        contract: the version's schema contract.
        task: ``classification`` or ``regression``.
        slow: the pipeline path (batch -> scores), used for any other shape, for a
            batch the fast path cannot take, and to check the fast path on the first batch.
    """

    def __init__(self, model: Any, contract: Contract, task: str, slow: Callable[[Any], np.ndarray]) -> None:
        self.plan = _plan(model, contract)
        self.task = task
        self.slow = slow
        self.checked = False

    @property
    def fast(self) -> bool:
        return self.plan is not None

    def __call__(self, batch: Any) -> np.ndarray:
        with for_rows(batch.num_rows):
            return self._score(batch)

    def _score(self, batch: Any) -> np.ndarray:
        if self.plan is None:
            return self.slow(batch)
        try:
            scores = _fast(self.plan, batch, self.task)
        except _Fallback:
            return self.slow(batch)
        if not self.checked:
            sample = batch.slice(0, min(batch.num_rows, 2048))
            if not np.array_equal(self.slow(sample), scores[: sample.num_rows], equal_nan=True):
                self.plan = None  # not the same numbers: the pipeline's own method from now on
                return self.slow(batch)
            self.checked = True
        return scores
