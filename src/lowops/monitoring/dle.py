"""Direct loss estimation (DLE): a regressor's RMSE and MAE before the labels arrive.

At training time a second model learns the live model's loss: on the rows the
model never trained on (the held-out entities of every training window), a
gradient-boosted regressor maps the features and the model's prediction to the
absolute error, another to the squared error. Both are stored beside the
version (``dle.skops``, signed with it). For a window without labels the mean
predicted absolute error is the estimated MAE and the root of the mean
predicted squared error the estimated RMSE (NannyML's DLE).

Like CBPE it assumes that only the inputs moved (covariate shift): a change in
the relation between inputs and target shows only in the realised KPI, which
replaces the estimate once labels arrive; ``dle.<metric>.error`` (estimate
minus realised) goes to ``logs/metrics.log`` then. R² and MAPE are not
estimated (they need the target's own spread and level in the window).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ESTIMABLE = ("rmse", "mae")
PREDICTION = "__prediction"  # the live model's prediction, one more input of the loss models
# Fewer rows than this teach a loss model nothing it could be trusted with.
MIN_ROWS = 50


def _inputs(frame: Any, predictions: Any, numeric: list[str], categorical: list[str]) -> Any:
    from lowops.model.build import prepare_categoricals

    x = prepare_categoricals(frame[[*numeric, *categorical]].reset_index(drop=True), categorical)
    return x.assign(**{PREDICTION: np.asarray(predictions, dtype=float)})


def _loss_model(numeric: list[str], categorical: list[str], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    from lowops.model.build import build_pipeline

    # Small and fixed: the loss is noisier than the target, and a shallow model on few rows
    # overfits it less; no early stopping, so no internal validation split draws at random.
    estimator = HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05, max_leaf_nodes=15,
                                              min_samples_leaf=20, l2_regularization=1.0,
                                              early_stopping=False, random_state=seed)
    return build_pipeline(estimator, [*numeric, PREDICTION], categorical)


def fit_dle(frame: Any, predictions: Any, y: Any, numeric: list[str], categorical: list[str],
            seed: int) -> dict[str, Any] | None:
    """Fit the loss models on rows the live model never trained on.

    Args:
        frame: those rows' features.
        predictions: the live model's predictions of them.
        y: their target.
        numeric: numeric feature columns.
        categorical: categorical feature columns.
        seed: the random state (the estimate is the same on every run).

    Returns:
        ``{"abs": pipeline, "sq": pipeline, "rows": n}``, or None with fewer than :data:`MIN_ROWS` labelled rows.
    """
    yhat, target = np.asarray(predictions, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(yhat) & np.isfinite(target)
    if int(keep.sum()) < MIN_ROWS:
        return None
    x = _inputs(frame.reset_index(drop=True)[keep], yhat[keep], numeric, categorical)
    error = target[keep] - yhat[keep]
    return {"abs": _loss_model(numeric, categorical, seed).fit(x, np.abs(error)),
            "sq": _loss_model(numeric, categorical, seed).fit(x, error ** 2), "rows": int(keep.sum())}


def estimate(models: dict[str, Any], frame: Any, predictions: Any, numeric: list[str],
             categorical: list[str]) -> dict[str, float]:
    """Estimated ``rmse`` and ``mae`` of a window's predictions; empty for an empty window.

    A loss is never negative: a predicted one below zero counts as zero.
    """
    yhat = np.asarray(predictions, dtype=float)
    keep = np.isfinite(yhat)
    if not keep.any():
        return {}
    x = _inputs(frame.reset_index(drop=True)[keep], yhat[keep], numeric, categorical)
    absolute = np.clip(np.asarray(models["abs"].predict(x), dtype=float), 0.0, None)
    squared = np.clip(np.asarray(models["sq"].predict(x), dtype=float), 0.0, None)
    return {"mae": float(absolute.mean()), "rmse": float(math.sqrt(squared.mean()))}


def dle_files(pipeline: Any, frame: Any, y: Any, numeric: list[str], categorical: list[str],
              seed: int) -> dict[str, bytes]:
    """``{dle.skops: ...}`` for the version's files: the loss models of ``pipeline`` on unseen rows (or nothing)."""
    from lowops.io.layout import DLE_FILE
    from lowops.io.model_files import dumps
    from lowops.model.predict import scores

    if len(frame) < MIN_ROWS:
        return {}
    models = fit_dle(frame, scores(pipeline, "regression", frame), y, numeric, categorical, seed)
    return {} if models is None else {DLE_FILE: dumps(models)}


def load_dle(data: bytes, where: object) -> dict[str, Any]:
    """The loss models from ``dle.skops``'s verified bytes (built from scikit-learn types only)."""
    from lowops.io.model_files import load_skops

    models: dict[str, Any] = load_skops(data, ("sklearn",), where)
    return models
