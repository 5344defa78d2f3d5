"""Evaluate: once a window's labels exist, its predictions' KPIs go to ``logs/metrics.log``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lowops.io import snapshots
from lowops.io.logs import log_metric
from lowops.io.snapshots import Snapshot
from lowops.stages import metrics as metric_fns
from lowops.stages.context import Context


def evaluate(ctx: Context, window: str, version: str, keys: np.ndarray, scores: np.ndarray,
             labels: Snapshot, meta: dict[str, Any]) -> dict[str, float]:
    """Compute the KPIs of ``scores`` against the window's labels and log one line per metric.

    Returns:
        The metrics, computed on the rows that have a label.
    """
    cfg = ctx.config
    lab = snapshots.load(labels)
    merged = pd.DataFrame({"key": keys, "score": scores}).merge(
        lab.rename(columns={cfg.entity_key: "key", cfg.labels.target: "y"}), on="key", how="inner")
    merged = merged[merged["y"].notna()]
    if merged.empty:
        ctx.log.event("evaluate", "no scored row has a label; nothing to evaluate", level="WARN")
        return {}
    threshold = float(meta["metrics"].get("threshold", cfg.train.threshold))
    values = metric_fns.compute(meta["task"], merged["y"].to_numpy(), merged["score"].to_numpy(), threshold)
    for name, value in values.items():
        log_metric(ctx.repo, window=window, model=cfg.model.name, version=version, metric=name,
                   value=value, rows=len(merged), run_id=ctx.run_id)
    primary = cfg.train.primary_metric
    ctx.log.event("evaluate", f"{cfg.model.name} {version} on {len(merged)} labelled rows: "
                  + ", ".join(f"{k}={v:.4f}" for k, v in values.items())
                  + f" (primary {primary})")
    return values
