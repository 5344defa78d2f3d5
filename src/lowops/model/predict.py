"""Predict: the one way rows become a model's scores, from a DataFrame or an Arrow batch.

Whatever scores (the score stage, the smoke test, monitoring's counterfactual
re-scoring, the shadow and split slots, the comparison of generations), the
model sees the same input: its contract's columns, numbers as floats with ±inf
as missing, text as objects with None for missing (what the pipeline was
fitted on). A row the model cannot score (a finite input such as 1e308 that
overflows in preprocessing) gets NaN instead of failing its neighbours.

:func:`scorer` adds the fast path for Arrow batches (:mod:`lowops.model._fast`):
the same numbers, checked bit for bit against the pipeline on the first rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lowops.errors import DataError
from lowops.model._fast import Scorer, class_count, class_scores
from lowops.model.card import Contract, ModelCard
from lowops.model.contract import check_frame
from lowops.model.threads import for_rows

FloatArray = np.ndarray

# Errors of a row the model cannot score (its preprocessing overflowed), by their message.
_UNSCORABLE = ("infinity", "too large", "contains NaN")


def _finite(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "f" and np.isinf(array).any():
        return np.where(np.isinf(array), np.nan, array)  # policy: ±inf is a missing value
    return array


def model_input(batch: Any, contract: Contract) -> pd.DataFrame:
    """The model's input frame from an Arrow batch, built from Arrow buffers without a pandas round trip per cell."""
    columns: dict[str, Any] = {}
    for column in contract.columns:
        array = batch.column(column.name).to_numpy(zero_copy_only=False)
        if not column.numeric:
            columns[column.name] = pd.Series(array if array.dtype == object else array.astype(object),
                                             dtype=object, copy=False)
            continue
        if array.dtype == object:
            array = pd.to_numeric(pd.Series(array), errors="coerce").to_numpy(dtype=float)
        columns[column.name] = _finite(array)
    return pd.DataFrame(columns, copy=False)


def frame_input(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The model's input frame from a DataFrame holding (at least) the contract's columns."""
    x = frame[contract.names].copy()
    for column in contract.columns:
        values = x[column.name]
        if not column.numeric:
            values = values.astype(object)
            x[column.name] = values.where(values.notna(), None)
            continue
        if not pd.api.types.is_numeric_dtype(values.dtype):
            values = pd.to_numeric(values, errors="coerce")
        if pd.api.types.is_float_dtype(values.dtype):
            array = values.to_numpy()
            finite = _finite(array)
            if finite is not array:
                values = pd.Series(finite, index=values.index)
        x[column.name] = values
    return x


def scores(model: Any, task: str, x: pd.DataFrame) -> FloatArray:
    """The model's scores of its input frame: the class-1 probability, or the prediction.

    A classifier of more than two classes scores one probability per class (n x k, in
    the order of its ``classes_``: the places of the card's classes).

    A row the model cannot score gets NaN, found by halving the frame. A small frame is
    scored on one thread (:mod:`lowops.model.threads`).
    """
    with for_rows(len(x)):
        return _scores(model, task, x)


def _scores(model: Any, task: str, x: pd.DataFrame) -> FloatArray:
    try:
        values = class_scores(model.predict_proba(x)) if task == "classification" else model.predict(x)
    except ValueError as exc:
        if not any(part in str(exc) for part in _UNSCORABLE):
            raise
        if len(x) <= 1:
            k = class_count(model, task)
            return np.full((len(x), k) if k > 2 else len(x), np.nan)
        middle = len(x) // 2
        return np.concatenate([_scores(model, task, x.iloc[:middle]), _scores(model, task, x.iloc[middle:])])
    return np.asarray(values, dtype=float)


def scored_rows(values: np.ndarray) -> np.ndarray:
    """Per row: the model scored it (its score, or every class's probability, is finite)."""
    finite: np.ndarray = np.isfinite(np.asarray(values, dtype=float))
    return np.all(finite, axis=1) if finite.ndim == 2 else finite


def predict_batch(batch: Any, model: Any, contract: Contract, task: str) -> FloatArray:
    """The model's scores of one Arrow batch through the pipeline's own method."""
    return scores(model, task, model_input(batch, contract))


def predict_frame(model: Any, card: ModelCard, frame: pd.DataFrame, where: str) -> FloatArray:
    """Score an in-memory frame through the same checks as ``lowops score``.

    Raises:
        DataError: the frame is empty, lacks a column of the contract, or holds text in a numeric column.
    """
    if frame.empty:
        raise DataError(f"{where}: the frame holds no rows; nothing to score.")
    check_frame(frame, card.schema, where)
    return scores(model, card.task, frame_input(frame, card.schema))


def frame_batch(frame: pd.DataFrame, contract: Contract) -> Any:
    """The contract's columns of a frame as one Arrow batch (what :class:`Scorer` takes), or None if Arrow refuses."""
    import pyarrow as pa

    x = frame_input(frame, contract)
    try:
        return pa.RecordBatch.from_pandas(x, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. a number among a text column's values
        return None


def predictor(model: Any, card: ModelCard) -> Callable[[pd.DataFrame], FloatArray]:
    """``frame -> scores`` for frames already checked against the contract (monitoring's re-scoring).

    Through the same :class:`Scorer` as ``lowops score``: the fast path where the
    model allows (checked against the pipeline on the first frame), else the pipeline.
    """
    score = scorer(model, card.schema, card.task)

    def predict(frame: pd.DataFrame) -> FloatArray:
        if frame.empty:
            return np.empty((0, len(card.classes)) if card.multiclass else 0)
        batch = frame_batch(frame, card.schema)
        if batch is None:
            return scores(model, card.task, frame_input(frame, card.schema))
        return score(batch)

    return predict


def scorer(model: Any, contract: Contract, task: str) -> Scorer:
    """What scores each Arrow batch: the same numbers as :func:`predict_batch`, faster where it can."""
    return Scorer(model, contract, task, functools.partial(predict_batch, model=model, contract=contract, task=task))


def score_partition(batch: Any, score: Scorer) -> FloatArray:
    """The model's scores of one Arrow batch (what an engine runs per partition)."""
    return score(batch)
