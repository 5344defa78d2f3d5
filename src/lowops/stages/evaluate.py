"""Evaluate: once a window's labels exist, its predictions' KPIs go to ``logs/metrics.log``.

Labels that arrive windows late (``windows.label_delay``) are picked up by
:func:`late_labels`: the stored predictions of an earlier window are evaluated
under that window, beside the estimate monitoring made without them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from lowops.context import Context
from lowops.io import layout, predictions, runs, snapshots
from lowops.io.logs import read_metrics
from lowops.io.snapshots import Snapshot
from lowops.model import metrics as metric_fns
from lowops.model.card import ModelCard
from lowops.monitoring.model_drift import with_standard_error
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
    # By row number: a multiclass model's scores are a matrix, one column per class.
    merged = pd.DataFrame({"key": keys, "row": np.arange(len(keys))}).merge(
        lab.rename(columns={cfg.entity_key: "key", cfg.labels.target: "y"}), on="key", how="inner")
    merged = merged[merged["y"].notna()]
    if merged.empty:
        ctx.log.event("evaluate", "no scored row has a label; nothing to evaluate", level="WARN")
        return {}
    seen = card.lineage.trained_on(window, merged["key"].to_numpy())
    if seen.any():
        # A KPI on rows the version learnt is no realised KPI: judge it on the rest (its hold-out entities).
        merged = merged[~seen]
        ctx.log.event("evaluate", f"{version} trained on {int(seen.sum())} of the labelled rows of {window}; "
                      f"its KPIs there are on the {len(merged)} rows it did not learn", level="WARN")
        if merged.empty:
            return {}
    y, score = merged["y"].to_numpy(), np.asarray(scores)[merged["row"].to_numpy()]
    computed = metric_fns.compute(card.task, y, score, card.threshold, card.classes)
    values = metric_fns.finite(computed)
    undefined = sorted(set(computed) - set(values))
    if undefined:
        ctx.log.event("evaluate", f"{', '.join(undefined)} undefined on the {len(merged)} labelled rows of {window} "
                      f"(labels {sorted(merged['y'].unique().tolist())}): not logged", level="WARN")
    # The KPI's own noise, logged beside it: model drift's tolerance for this window and those after.
    values = with_standard_error(values, cfg.train.primary_metric, card.task, y, score, card.threshold,
                                 cfg.drift.model_drift, cfg.model.random_state)
    for name, value in values.items():
        ctx.metrics.log(window, version, name, value, len(merged))
    ctx.log.event("evaluate", f"{ctx.name} {version} on {len(merged)} labelled rows: "
                  + ", ".join(f"{k}={v:.4f}" for k, v in values.items() if not k.startswith("se."))
                  + f" (primary {cfg.train.primary_metric})")
    return values


def _scored_by(ctx: Context, path: Path, scored: pd.DataFrame) -> str:
    """The version that scored a predictions file: its run's score stage, else the file's last row."""
    ledger = layout.run_file(ctx.repo, layout.predictions_run(path))
    done = runs.read_run(ledger).done("score") if ledger.is_file() else None
    version = (done or {}).get("version")
    return str(version) if version else str(scored["version"].iloc[-1])


def scored_by(ctx: Context, window: str) -> str | None:
    """The version that scored ``window``: its latest predictions' run ledger (else the file's rows), if scored."""
    files = layout.predictions_files(ctx.repo, window)
    if not files:
        return None
    return _scored_by(ctx, files[-1], predictions.read_scores(files[-1], ctx.config.entity_key))


class LateLabels(NamedTuple):
    """An earlier window evaluated once its labels arrived."""

    window: Window
    values: dict[str, float]  # the realised KPIs
    version: str  # the version that scored it
    rows: int  # labelled rows evaluated


def _realised_elsewhere(ctx: Context, metric: str) -> set[str]:
    """Windows whose realised ``metric`` a run other than this one logged (this run's own: a resumed run's)."""
    return {row["window"] for row in read_metrics(ctx.repo) if row["model"] == ctx.name and row["metric"] == metric
            and row["run"] != ctx.run_id and math.isfinite(row["value"])}


def late_labels(ctx: Context, window: Window) -> list[LateLabels]:
    """Evaluate earlier windows whose labels arrived after they were scored.

    Looks back ``drift.model_drift.backfill_windows`` windows for one that has
    predictions but no realised primary KPI and whose labels are now due;
    extracts its labels, evaluates its stored predictions (logging the KPIs
    under that window) and returns what it found.

    A window this very run back-filled before it was interrupted is found again
    (its metric lines are not written twice), so a resumed run judges it too.

    Returns:
        One :class:`LateLabels` per window back-filled, oldest first.
    """
    cfg = ctx.config
    primary, key = cfg.train.primary_metric, cfg.entity_key
    done = _realised_elsewhere(ctx, primary)
    found = []
    for lag in range(cfg.drift.model_drift.backfill_windows, 0, -1):  # oldest first
        earlier = window.prev(lag)
        files = layout.predictions_files(ctx.repo, earlier.label)
        if earlier.label in done or not files or not ctx.labels_due(earlier):
            continue
        labels = current(ctx, earlier, "labels")
        if labels is None:
            continue
        scored = predictions.read_scores(files[-1], key, ctx.classes)
        if scored.empty:
            continue
        version = _scored_by(ctx, files[-1], scored)
        # Split mode: the other slot served some rows; the realised KPI is the live
        # version's on the rows it served (a hash of the key chose them).
        scored = scored[scored["version"].astype(str) == version]
        values = evaluate(ctx, earlier.label, version, scored[key].to_numpy(),
                          predictions.score_matrix(scored, ctx.classes), labels, ctx.card(version))
        if values:
            ctx.log.event("monitor", f"late labels for {earlier.label} arrived: realised {primary}="
                          f"{values.get(primary, math.nan):.4f} ({version})")
            known = snapshots.load(labels, columns=[key, cfg.labels.target]).dropna()
            found.append(LateLabels(earlier, values, version, int(scored[key].isin(known[key]).sum())))
    return found
