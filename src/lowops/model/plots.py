"""PNG plots stored beside each model version (matplotlib, headless)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # headless under cron: never a display
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _figure()
    buffer = io.BytesIO()
    # Fixed metadata so the same model gives the same bytes.
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def classification_plots(y_true: Any, score: Any, title: str) -> dict[str, bytes]:
    """ROC and precision-recall curves on the hold-out."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _figure()
    y = np.asarray(y_true).astype(int)
    plots: dict[str, bytes] = {}
    if len(np.unique(y)) < 2:
        return plots
    fpr, tpr, _ = roc_curve(y, score)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(fpr, tpr, label=f"AUC {auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    ax.legend(loc="lower right")
    plots["roc.png"] = _png(fig)
    precision, recall, _ = precision_recall_curve(y, score)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision)
    ax.axhline(y.mean(), linestyle="--", color="grey", linewidth=0.8, label=f"base rate {y.mean():.3f}")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall — {title}")
    ax.legend(loc="upper right")
    plots["pr.png"] = _png(fig)
    return plots


def multiclass_plots(y_true: Any, proba: Any, classes: Any, title: str) -> dict[str, bytes]:
    """One-vs-rest ROC curves on the hold-out, one per class that occurs there, and the confusion matrix."""
    from sklearn.metrics import auc, confusion_matrix, roc_curve

    plt = _figure()
    y, p = np.asarray(y_true).astype(int), np.asarray(proba, dtype=float)
    names = [str(c) for c in classes]
    fig, ax = plt.subplots(figsize=(5, 4))
    for c, name in enumerate(names):
        positive = y == c
        if positive.any() and not positive.all():
            fpr, tpr, _ = roc_curve(positive, p[:, c])
            ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC, one vs rest — {title}")
    ax.legend(loc="lower right")
    plots = {"roc.png": _png(fig)}
    matrix = confusion_matrix(y, p.argmax(axis=1), labels=list(range(len(names))))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="label", title=f"Confusion matrix — {title}")
    plots["confusion.png"] = _png(fig)
    return plots


def regression_plots(y_true: Any, predicted: Any, title: str) -> dict[str, bytes]:
    """Residuals against predictions on the hold-out."""
    plt = _figure()
    y, yhat = np.asarray(y_true, dtype=float), np.asarray(predicted, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(yhat, y - yhat, s=3, alpha=0.4)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlabel="predicted", ylabel="residual", title=f"Residuals — {title}")
    return {"residuals.png": _png(fig)}


def importance_plot(importance: dict[str, float], title: str) -> dict[str, bytes]:
    """Horizontal bars of normalised feature importance."""
    plt = _figure()
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(5, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="share of importance", title=f"Feature importance — {title}")
    return {"importance.png": _png(fig)}
