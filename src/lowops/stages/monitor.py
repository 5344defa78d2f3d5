"""Monitor, the stage after scoring: did the data move, does it matter to the live model,
is the model still as good as it was?

It reads the window's feature snapshot and the live version's reference
(never the training data again), measures data drift per feature, ranks the
features by impact, judges model drift (realised KPI, or the CBPE estimate and
prediction drift while labels are late), writes ``monitoring/<window>/`` and
one metrics-log line per statistic, and hands continuous training a
:class:`~lowops.monitoring.verdict.DriftVerdict`.

Earlier windows whose labels arrive with this check are judged on their
realised KPI and their record brought to that basis (:mod:`lowops.monitoring.late`);
their model drift reaches continuous training through this window's verdict.
A re-check of a window that has a record writes beside it, to
``monitoring/<window>/recheck-<run>/``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.context import Context
from lowops.io import layout, registry, snapshots
from lowops.model import metrics as metric_fns
from lowops.model.card import ModelCard
from lowops.model.contract import check_frame
from lowops.model.predict import predictor
from lowops.monitoring import cbpe, dle, late
from lowops.monitoring.drift import FeatureDrift, data_drift
from lowops.monitoring.impact import (
    ImpactResult,
    counterfactual,
    normalised_importance,
    rank_impact,
)
from lowops.monitoring.model_drift import (
    ModelDrift,
    Point,
    compare,
    references,
    summary_text,
    with_standard_error,
)
from lowops.monitoring.outputs import clean, feature_objects, log_window, recorded_verdict, write_window
from lowops.monitoring.reference import (
    Reference,
    build_reference,
    reference_from_bytes,
)
from lowops.monitoring.stats import numeric_drift
from lowops.monitoring.verdict import DriftVerdict
from lowops.stages.evaluate import late_labels
from lowops.stages.extract import current
from lowops.windows import Window, parse_window

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from lowops.io.snapshots import Snapshot

def _window_frame(ctx: Context, window: Window, columns: list[str]) -> pd.DataFrame | None:
    snap = current(ctx, window, "features")
    return None if snap is None else snapshots.load(snap, columns=[ctx.config.entity_key, *columns])


def resolve_reference(ctx: Context, window: Window, card: ModelCard,
                      predict: Callable[[pd.DataFrame], np.ndarray]) -> Reference:
    """The reference chosen by ``drift.reference``.

    Args:
        ctx: the command's context.
        window: the window being checked (``previous`` means the one before it).
        card: the live version's card.
        predict: ``frame -> scores`` of the live model (to sketch a window's scores).

    Returns:
        The version's stored reference (the training range), or one sketched from another window.
    """
    settings = ctx.config.drift
    version = str(card.version)
    # Read through the registry: a reference is trusted only as the version's signed digests say.
    stored = reference_from_bytes(registry.trusted_file(ctx.repo, ctx.name, version, layout.REFERENCE_FILE))
    if settings.reference != "training":
        other = window.prev(1) if settings.reference == "previous" else parse_window(
            str(settings.baseline_window), ctx.config.windows.frequency, tz=ctx.config.windows.timezone)
        frame = _window_frame(ctx, other, card.schema.names)
        if frame is not None:
            reference = build_reference(frame, card.schema.numeric, card.schema.categorical, settings,
                                        scores=predict(frame), source={"kind": settings.reference,
                                                                       "windows": [other.label]})
            return Reference(reference.features, reference.score, stored.calibration, reference.source,
                             reference.class_scores, stored.class_calibrations)
        ctx.log.event("monitor", f"reference window {other.label} has no data; comparing with the "
                      "training range instead", level="WARN")
    return stored


def _labels_frame(ctx: Context, labels: Snapshot | None) -> pd.DataFrame | None:
    if labels is None:
        return None
    frame = snapshots.load(labels)
    return frame[frame[ctx.config.labels.target].notna()]


def _impact(ctx: Context, card: ModelCard, current: pd.DataFrame, reference: Reference,
            drifts: list[FeatureDrift], predict: Callable[[pd.DataFrame], np.ndarray],
            scores: np.ndarray) -> ImpactResult:
    """Importance-weighted impact of each feature's drift, and the counterfactual one of each drifted feature."""
    drift = ctx.config.drift
    if not card.classifier and reference.score is not None and reference.score.std > 0:
        # A regressor's prediction is in the target's units: the threshold is a share of the spread
        # of its reference predictions, as a classifier's is a share of the probability scale.
        scaled = drift.impact.counterfactual_threshold * reference.score.std
        drift = drift.model_copy(update={"impact": drift.impact.model_copy(
            update={"counterfactual_threshold": scaled})})
    settings = drift.impact
    drifted = [d.feature for d in drifts if d.drifted]
    cf = counterfactual(predict, current[card.schema.names], reference, drifted,
                        threshold=card.threshold if card.classifier else None, seed=settings.seed, base=scores,
                        max_rows=settings.counterfactual_rows, precision=settings.counterfactual_precision,
                        floor=settings.counterfactual_threshold)
    importance = normalised_importance(card.importance.values, list(reference.features))
    return rank_impact(drifts, importance, cf, drift, classes=card.classifier)


def _realised(ctx: Context, window: Window, card: ModelCard, current: pd.DataFrame, scores: np.ndarray,
              label_frame: pd.DataFrame | None) -> dict[str, float] | None:
    """The window's KPIs when ``evaluate`` did not run but labels exist (``lowops drift``)."""
    if label_frame is None or label_frame.empty:
        return None
    key, target = ctx.config.entity_key, ctx.config.labels.target
    # By row number: a multiclass model's scores are a matrix, one column per class.
    joined = current[[key]].assign(__row=np.arange(len(current))).merge(label_frame, on=key, how="inner")
    joined = joined[~card.lineage.trained_on(window.label, joined[key].to_numpy())]  # never its own training rows
    if joined.empty:
        return None
    y, score = joined[target].to_numpy(), np.asarray(scores)[joined["__row"].to_numpy()]
    values = metric_fns.compute(card.task, y, score, card.threshold, card.classes)
    cfg = ctx.config
    return with_standard_error(values, cfg.train.primary_metric, card.task, y, score, card.threshold,
                               cfg.drift.model_drift, cfg.model.random_state)


def _late(ctx: Context, window: Window, metric: str) -> list[late.LateFinding]:
    """Late labels of earlier windows: each judged against its own T-1, T-2 and benchmark, its record updated."""
    cfg, found = ctx.config, []
    for item in late_labels(ctx, window):
        if metric not in item.values:
            continue
        label, version = item.window.label, item.version
        current = Point(label, item.values[metric], item.values.get(f"se.{metric}"))
        comparisons = compare(metric, current, references(ctx.repo, ctx.name, metric, item.window, ctx.card(version)),
                              cfg.drift.model_drift)
        recorded = recorded_verdict(ctx.repo, label)
        method = "cbpe" if ctx.card(version).classifier else "dle"
        finding = late.realised_finding(metric, item.values, comparisons, recorded,
                                        late.logged_estimates(ctx.repo, ctx.name, label, version, method), method)
        update = recorded is not None and recorded.get("model_drift_basis") != "realised"
        if recorded is not None and update:
            where = layout.estimated_dir(ctx.repo, label).relative_to(ctx.repo)
            text = summary_text(label, ctx.name, version, finding, cfg.drift.model_drift,
                                cfg.drift.thresholds.prediction_psi,
                                [late.history_line(recorded, ctx.run_id, window.label, str(where))])
            late.rewrite_record(ctx.repo, label, text, late.updated_verdict(recorded, finding, ctx.run_id,
                                                                            window.label))
        result = late.LateFinding(label, version, finding, update)
        late.log_late(ctx.metrics, result, item.rows)
        ctx.log.event("monitor", f"late labels: {label} ({version}) on the realised basis: "
                      f"{'MODEL DRIFT' if finding.flagged else 'no model drift'}"
                      + (f"; {layout.monitoring_dir(ctx.repo, label).relative_to(ctx.repo)} updated" if update else ""),
                      level="WARN" if finding.flagged else "INFO")
        found.append(result)
    return found


def monitor(ctx: Context, window: Window, *, features: Snapshot, model: Any, card: ModelCard,
            scores: np.ndarray | None = None, labels: Snapshot | None = None,
            realised: dict[str, float] | None = None, recheck: bool = False,
            sweetviz_report: bool = False) -> DriftVerdict:
    """Check one window: data drift, impact, model drift; write and log the results.

    Args:
        ctx: the command's context (holding the lock, with a run id).
        window: the window checked.
        features: its feature snapshot.
        model: the live model, loaded and verified.
        card: the live version's card.
        scores: the live model's scores of the snapshot's rows, in order (scored again if None).
        labels: the window's labels, when they exist.
        realised: the KPIs ``evaluate`` computed for the window, if it ran.
        recheck: the window has a record already: write to ``monitoring/<window>/recheck-<run>/``
            beside it, and leave other windows' late labels to the loop.
        sweetviz_report: ask for the Sweetviz report whatever ``drift.sweetviz.when`` says.

    Returns:
        The window's verdicts.
    """
    cfg = ctx.config
    if not cfg.drift.enabled:
        return DriftVerdict(window.label, details={"enabled": False})
    current = snapshots.load(features)
    check_frame(current, card.schema, f"window {window.label}")  # names a missing column
    current = current[[cfg.entity_key, *card.schema.names]]
    predict = predictor(model, card)
    reference = resolve_reference(ctx, window, card, predict)
    drifts = data_drift(reference, current, cfg.drift, n_jobs=cfg.compute.n_jobs, engine=ctx.engine)
    if scores is None or len(scores) != len(current):
        scores = predict(current)
    impact = _impact(ctx, card, current, reference, drifts, predict, scores)
    label_frame = _labels_frame(ctx, labels)
    if realised is None:
        realised = _realised(ctx, window, card, current, scores, label_frame)
    folder = layout.recheck_dir(ctx.repo, window.label, ctx.run_id) if recheck else \
        layout.monitoring_dir(ctx.repo, window.label)
    found_late = [] if recheck else _late(ctx, window, cfg.train.primary_metric)
    finding = _model_drift(ctx, window, card, current, scores, reference, realised or {})
    model_drift = finding.flagged
    evidence = [*impact.evidence,
                *(f"{finding.metric} {finding.basis} {finding.value:.4f} vs {c.against} {c.reference:.4f} "
                  f"(drop {c.drop:+.4f})" for c in finding.comparisons if c.flagged)]
    summary = _verdict_json(ctx, window, card, reference, drifts, impact, finding, model_drift, evidence)
    summary["late_labels"] = clean([f.summary() for f in found_late])
    text = summary_text(window.label, ctx.name, str(card.version), finding, cfg.drift.model_drift,
                        cfg.drift.thresholds.prediction_psi, [f.line for f in found_late])
    files = write_window(ctx.repo, window.label, drifts, impact, text, summary, folder)
    # Sweetviz costs more than the rest of the window: it is built where a person will look,
    # in a background process once the run's results are committed (stages/sweetviz_report.py).
    wanted = sweetviz_report or cfg.drift.sweetviz.when == "always" or impact.matters or model_drift
    sweetviz_folder = str(folder.relative_to(ctx.repo)) if cfg.drift.sweetviz.enabled and wanted else None
    count = log_window(ctx.metrics, window.label, str(card.version), len(current), drifts, impact, finding, summary)
    drifted = [d.feature for d in drifts if d.drifted]
    ctx.log.event("monitor", f"{len(drifts)} features, drifted: {', '.join(drifted) or 'none'}; drift that "
                  f"matters: {'yes' if impact.matters else 'no'}; model drift: {'yes' if model_drift else 'no'} "
                  f"({finding.basis}); {count} metrics logged -> {folder}",
                  level="WARN" if impact.matters or model_drift else "INFO")
    return DriftVerdict(window.label, drift_that_matters=impact.matters, model_drift=model_drift,
                        evidence=tuple(evidence), details={**summary, "files": files, "metrics_logged": count},
                        late_model_drift=tuple(f.evidence for f in found_late if f.finding.flagged),
                        sweetviz_folder=sweetviz_folder)


def _verdict_json(ctx: Context, window: Window, card: ModelCard, reference: Reference, drifts: list[FeatureDrift],
                  impact: ImpactResult, finding: ModelDrift, model_drift: bool, evidence: list[str]) -> dict[str, Any]:
    """``verdict.json``: the verdicts and the per-feature figures (JSON-safe)."""
    summary = {
        "window": window.label, "model": ctx.name, "version": card.version, "run_id": ctx.run_id,
        "reference": reference.source, "drift_that_matters": impact.matters, "model_drift": model_drift,
        "model_drift_basis": finding.basis, "prediction_drift": finding.prediction_drift,
        "evidence": evidence, "drifted": [d.feature for d in drifts if d.drifted],
        "ranking": [row["feature"] for row in impact.rows],
        "kpi": {"metric": finding.metric, "value": finding.value, "realised": finding.realised,
                "estimated": finding.estimated, "prediction_psi": finding.prediction_psi,
                "comparisons": [vars(c) for c in finding.comparisons]},
        "features": feature_objects(drifts, impact),
    }
    cleaned: dict[str, Any] = clean(summary)
    return cleaned


def _dle_estimate(ctx: Context, card: ModelCard, current: pd.DataFrame, scores: np.ndarray) -> dict[str, float]:
    """A regressor's estimated RMSE and MAE from the loss models stored with it (none before they were kept)."""
    version = str(card.version)
    if not (layout.version_dir(ctx.repo, ctx.name, version) / layout.DLE_FILE).is_file():
        return {}
    data = registry.trusted_file(ctx.repo, ctx.name, version, layout.DLE_FILE)
    models = dle.load_dle(data, f"{ctx.name} {version} {layout.DLE_FILE}")
    return dle.estimate(models, current, scores, card.schema.numeric, card.schema.categorical)


def _model_drift(ctx: Context, window: Window, card: ModelCard, current_rows: pd.DataFrame, scores: np.ndarray,
                 reference: Reference, realised: dict[str, float]) -> ModelDrift:
    """Realised KPI against T-1, T-2 and the benchmark; else the CBPE or DLE estimate; and prediction drift."""
    cfg = ctx.config
    metric = cfg.train.primary_metric
    psi = numeric_drift(reference.score, scores)["psi"] if reference.score is not None else math.nan
    estimated: dict[str, float] = {}
    method = "cbpe" if card.classifier else "dle"
    class_psi = _class_psi(card, reference, scores)
    if card.multiclass:
        psi = max(class_psi.values(), default=math.nan)  # the class whose probabilities moved most
        estimated = cbpe.estimate_multiclass(scores, reference.class_calibrations,
                                             [metric_fns.class_name(c) for c in card.classes])
    elif card.classifier and reference.calibration is not None:
        estimated = cbpe.estimate(scores, reference.calibration, card.threshold)
    elif not card.classifier:
        estimated = _dle_estimate(ctx, card, current_rows, scores)
    value: float | None
    current = Point(window.label, None)
    if metric in realised and math.isfinite(realised[metric]):
        basis, value = "realised", float(realised[metric])
        current = Point(window.label, value, realised.get(f"se.{metric}"))
    elif metric in estimated and math.isfinite(estimated[metric]):
        # An estimate has no labels to resample: its noise is taken as that of a KPI on as many rows.
        basis, value = "estimated", float(estimated[metric])
        current = Point(window.label, value, None, len(scores))
    else:
        basis, value = "none", None
    comparisons = () if value is None else compare(
        metric, current, references(ctx.repo, ctx.name, metric, window, card), cfg.drift.model_drift)
    prediction_drift = math.isfinite(psi) and psi > cfg.drift.thresholds.prediction_psi
    return ModelDrift(metric, basis, value, comparisons, dict(realised), estimated, float(psi), prediction_drift,
                      method, class_psi)


def _class_psi(card: ModelCard, reference: Reference, scores: np.ndarray) -> dict[str, float]:
    """A multiclass model's prediction drift per class: the PSI of each class's probability against the reference."""
    if not card.multiclass or len(reference.class_scores) != len(card.classes) or np.ndim(scores) != 2:
        return {}
    return {metric_fns.class_name(c): float(numeric_drift(sketch, scores[:, i])["psi"])
            for i, (c, sketch) in enumerate(zip(card.classes, reference.class_scores, strict=True))}
