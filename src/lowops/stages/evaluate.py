"""Evaluate: once a window's labels exist, its predictions' KPIs go to ``logs/metrics.log``.

Labels that arrive windows late (``windows.label_delay``) are picked up by
:func:`late_labels`: the stored predictions of an earlier window are evaluated
under that window, beside the estimate monitoring made without them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lowops.context import Context
from lowops.io import layout, predictions, runs, snapshots
from lowops.io.snapshots import Snapshot
from lowops.model import metrics as metric_fns
from lowops.model.card import ModelCard
from lowops.monitoring.model_drift import kpi_history
from lowops.stages.extract import current
from lowops.windows import Window


def evaluate(ctx: Context, window: str, version: str, keys: np.ndarray, scores: np.ndarray,
             labels: Snapshot, card: ModelCard) -> dict[str, float]:
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
    computed = metric_fns.compute(card.task, merged["y"].to_numpy(), merged["score"].to_numpy(), card.threshold)
    values = metric_fns.finite(computed)
    undefined = sorted(set(computed) - set(values))
    if undefined:
        ctx.log.event("evaluate", f"{', '.join(undefined)} undefined on the {len(merged)} labelled rows of {window} "
                      f"(labels {sorted(merged['y'].unique().tolist())}): not logged", level="WARN")
    for name, value in values.items():
        ctx.metrics.log(window, version, name, value, len(merged))
    ctx.log.event("evaluate", f"{ctx.name} {version} on {len(merged)} labelled rows: "
                  + ", ".join(f"{k}={v:.4f}" for k, v in values.items())
                  + f" (primary {cfg.train.primary_metric})")
    return values


def _scored_by(ctx: Context, path: Path, scored: pd.DataFrame) -> str:
    """The version that scored a predictions file: its run's score stage, else the file's last row."""
    ledger = layout.run_file(ctx.repo, layout.predictions_run(path))
    done = runs.read_run(ledger).done("score") if ledger.is_file() else None
    version = (done or {}).get("version")
    return str(version) if version else str(scored["version"].iloc[-1])


def late_labels(ctx: Context, window: Window) -> list[tuple[Window, dict[str, float], str]]:
    """Evaluate earlier windows whose labels arrived after they were scored.

    Looks back ``drift.model_drift.backfill_windows`` windows for one that has
    predictions but no realised primary KPI and whose labels are now due;
    extracts its labels, evaluates its stored predictions (logging the KPIs
    under that window) and returns what it found.

    Returns:
        ``(window, realised metrics, version)`` per window back-filled.
    """
    cfg = ctx.config
    primary, key = cfg.train.primary_metric, cfg.entity_key
    done = kpi_history(ctx.repo, ctx.name, primary)
    found = []
    for lag in range(cfg.drift.model_drift.backfill_windows, 0, -1):  # oldest first
        earlier = window.prev(lag)
        files = layout.predictions_files(ctx.repo, earlier.label)
        if earlier.label in done or not files or not ctx.labels_due(earlier):
            continue
        labels = current(ctx, earlier, "labels")
        if labels is None:
            continue
        scored = predictions.read_scores(files[-1], key)
        if scored.empty:
            continue
        version = _scored_by(ctx, files[-1], scored)
        # Split mode: the other slot served some rows; the realised KPI is the live
        # version's on the rows it served (a hash of the key chose them).
        scored = scored[scored["version"].astype(str) == version]
        values = evaluate(ctx, earlier.label, version, scored[key].to_numpy(),
                          scored["score"].to_numpy(dtype=float), labels, ctx.card(version))
        if values:
            ctx.log.event("monitor", f"late labels for {earlier.label} arrived: realised {primary}="
                          f"{values.get(primary, math.nan):.4f} ({version})")
            found.append((earlier, values, version))
    return found
