"""Monitoring, the ``monitor`` stage of ``lowops run`` and ``lowops drift``: did the data move,
does it matter to the live model, is the model still as good as it was?

It reads the window's feature snapshot and the live version's reference
(never the training data again), measures data drift per feature, ranks the
features by impact, judges model drift (realised KPI, or the CBPE estimate and
prediction drift while labels are late), writes ``monitoring/<window>/`` and
one metrics-log line per statistic, and hands continuous training a
:class:`~lowops.stages.signals.DriftVerdict`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.io import registry, snapshots
from lowops.stages import cbpe
from lowops.stages import metrics as metric_fns
from lowops.stages import modeling
from lowops.stages.drift import data_drift
from lowops.stages.drift_impact import counterfactual, normalised_importance, rank_impact
from lowops.stages.drift_model import ModelDrift, backfill_labels, compare, references, summary_text
from lowops.stages.drift_outputs import feature_objects, log_window, monitoring_dir, write_window
from lowops.stages.drift_stats import numeric_drift
from lowops.stages.reference import Reference, build_reference, load_reference, load_sample
from lowops.stages.signals import DriftVerdict

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from lowops.io.snapshots import Snapshot
    from lowops.stages.context import Context
    from lowops.windows import Window


def predictor(model: Any, meta: dict[str, Any]) -> Callable[[pd.DataFrame], np.ndarray]:
    """``frame -> scores`` with the same input preparation as the score stage."""
    import pandas as pd

    columns = [c["name"] for c in meta["schema"]["columns"]]
    categorical = [c["name"] for c in meta["schema"]["columns"] if c["kind"] == "categorical"]
    numeric = [c["name"] for c in meta["schema"]["columns"] if c["kind"] == "numeric"]

    def predict(frame: pd.DataFrame) -> np.ndarray:
        x = modeling.prepare_categoricals(frame[columns], categorical)
        for name in numeric:
            if not pd.api.types.is_numeric_dtype(x[name].dtype):
                x[name] = pd.to_numeric(x[name], errors="coerce")
        if meta["task"] == "classification":
            return np.asarray(model.predict_proba(x)[:, 1], dtype=float)
        return np.asarray(model.predict(x), dtype=float)

    return predict


def _window_frame(ctx: Context, window: Window, columns: list[str]) -> pd.DataFrame | None:
    from lowops.stages.extract import extract_features

    snap = snapshots.latest(ctx.repo, window.label, "features") or extract_features(ctx, window)
    return None if snap is None else snapshots.load(snap, columns=[ctx.config.entity_key, *columns])


def _rebuild_training_reference(ctx: Context, meta: dict[str, Any], predict: Any) -> tuple[Reference, Any]:
    """For versions trained before references were stored: sketch their training range again."""
    import pandas as pd

    key, target = ctx.config.entity_key, ctx.config.labels.target
    contract = meta["schema"]["columns"]
    numeric = [c["name"] for c in contract if c["kind"] == "numeric"]
    categorical = [c["name"] for c in contract if c["kind"] == "categorical"]
    frames, holdout = [], meta["lineage"]["holdout_window"]
    scores = labels = None
    for used in meta["lineage"]["data"]:
        feats = snapshots.versions(ctx.repo, used["window"], "features")
        match = [s for s in feats if s.version == used["features"]]
        if not match:
            continue
        frame = snapshots.load(match[0])
        frames.append(frame)
        if used["window"] == holdout:
            labs = [s for s in snapshots.versions(ctx.repo, holdout, "labels") if s.version == used["labels"]]
            if labs:
                joined = frame.merge(snapshots.load(labs[0]), on=key, how="inner")
                joined = joined[joined[target].notna()]
                scores, labels = predict(joined), joined[target].to_numpy(dtype=float)
    data = pd.concat(frames, ignore_index=True)
    ctx.log.event("monitor", f"{meta['version']} has no stored reference; rebuilt it from its training "
                  f"snapshots ({len(data)} rows)", level="WARN")
    reference = build_reference(data, numeric, categorical, ctx.config.drift, scores=scores, labels=labels,
                                source={"kind": "training", "windows": [u["window"] for u in meta["lineage"]["data"]]})
    return reference, data


def resolve_reference(ctx: Context, window: Window, meta: dict[str, Any],
                      predict: Any) -> tuple[Reference, pd.DataFrame | None]:
    """The reference chosen by ``drift.reference``, and a row sample of it for Sweetviz.

    Args:
        ctx: the command's context.
        window: the window being checked (``previous`` means the one before it).
        meta: the live version's metadata.
        predict: ``frame -> scores`` of the live model (to sketch a window's scores).

    Returns:
        The reference and the sample (None when none is at hand).
    """
    from lowops.windows import parse_window

    settings = ctx.config.drift
    version_dir = registry.model_dir(ctx.repo, ctx.config.model.name) / meta["version"]
    stored = load_reference(version_dir)
    if settings.reference != "training":
        other = window.prev(1) if settings.reference == "previous" else parse_window(
            str(settings.baseline_window), ctx.config.windows.frequency, tz=ctx.config.windows.timezone)
        contract = meta["schema"]["columns"]
        frame = _window_frame(ctx, other, [c["name"] for c in contract])
        if frame is not None:
            reference = build_reference(
                frame, [c["name"] for c in contract if c["kind"] == "numeric"],
                [c["name"] for c in contract if c["kind"] == "categorical"], settings, scores=predict(frame),
                source={"kind": settings.reference, "windows": [other.label]})
            calibration = stored.calibration if stored is not None else None
            return Reference(reference.features, reference.score, calibration, reference.source), frame
        ctx.log.event("monitor", f"reference window {other.label} has no data; comparing with the "
                      "training range instead", level="WARN")
    if stored is not None:
        return stored, load_sample(version_dir)
    return _rebuild_training_reference(ctx, meta, predict)


def _labels_frame(ctx: Context, labels: Snapshot | None) -> pd.DataFrame | None:
    if labels is None:
        return None
    frame = snapshots.load(labels)
    return frame[frame[ctx.config.labels.target].notna()]


def monitor(ctx: Context, window: Window, *, features: Snapshot, model: Any, meta: dict[str, Any],
            scores: np.ndarray | None = None, labels: Snapshot | None = None,
            realised: dict[str, float] | None = None) -> DriftVerdict:
    """Check one window: data drift, impact, model drift; write and log the results.

    Args:
        ctx: the command's context (holding the lock, with a run id).
        window: the window checked.
        features: its feature snapshot.
        model: the live model, loaded and verified.
        meta: the live version's metadata.
        scores: the live model's scores of the snapshot's rows, in order (scored again if None).
        labels: the window's labels, when they exist.
        realised: the KPIs ``evaluate`` computed for the window, if it ran.

    Returns:
        The window's verdicts.
    """
    cfg = ctx.config
    settings, key, target = cfg.drift, cfg.entity_key, cfg.labels.target
    if not settings.enabled:
        return DriftVerdict(window.label, details={"enabled": False})
    columns = [c["name"] for c in meta["schema"]["columns"]]
    current = snapshots.load(features)
    modeling.check_contract(current, meta["schema"], f"window {window.label}")  # names a missing column
    current = current[[key, *columns]]
    predict = predictor(model, meta)
    reference, reference_rows = resolve_reference(ctx, window, meta, predict)
    drifts = data_drift(reference, current, settings, n_jobs=cfg.compute.n_jobs, engine=ctx.engine)

    classifier = meta["task"] == "classification"
    threshold = float(meta["metrics"].get("threshold", cfg.train.threshold))
    impact_cfg = settings.impact
    cf_rows = current.sample(n=impact_cfg.counterfactual_rows, random_state=impact_cfg.seed) \
        if len(current) > impact_cfg.counterfactual_rows else current
    cf = counterfactual(predict, cf_rows[columns], reference, threshold=threshold if classifier else None,
                        seed=impact_cfg.seed)
    importance = normalised_importance((meta.get("importance") or {}).get("values"), list(reference.features))
    impact = rank_impact(drifts, importance, cf, settings)

    if scores is None or len(scores) != len(current):
        scores = predict(current)
    label_frame = _labels_frame(ctx, labels)
    if realised is None and label_frame is not None and not label_frame.empty:
        joined = current[[key]].assign(score=scores).merge(label_frame, on=key, how="inner")
        if not joined.empty:
            realised = metric_fns.compute(meta["task"], joined[target].to_numpy(), joined["score"].to_numpy(),
                                          threshold)
    late = backfill_labels(ctx, window)
    finding = _model_drift(ctx, window, meta, scores, reference, realised or {}, threshold)
    late_lines, late_flag = [], False
    for earlier, values, version in late:
        metric = finding.metric
        if metric in values:
            earlier_meta = registry.read_metadata(ctx.repo, cfg.model.name, version)
            comparisons = compare(metric, values[metric], references(ctx.repo, cfg.model.name, metric, earlier,
                                                                     earlier_meta), settings.model_drift)
            flagged = any(c.flagged for c in comparisons)
            late_flag = late_flag or flagged
            late_lines.append(f"late labels: {earlier.label} realised {metric}={values[metric]:.4f} -> "
                              f"{'MODEL DRIFT' if flagged else 'within tolerance'}")

    model_drift = finding.flagged or (finding.basis != "realised" and late_flag)
    evidence = list(impact.evidence)
    evidence += [f"{finding.metric} {finding.basis} {finding.value:.4f} vs {c.against} {c.reference:.4f} "
                 f"(drop {c.drop:+.4f})" for c in finding.comparisons if c.flagged]
    evidence += [line for line in late_lines if line.endswith("MODEL DRIFT")]
    features_json = feature_objects(drifts, impact)
    verdict_json = {
        "window": window.label, "model": cfg.model.name, "version": meta["version"], "run_id": ctx.run_id,
        "reference": reference.source, "drift_that_matters": impact.matters, "model_drift": model_drift,
        "model_drift_basis": finding.basis, "prediction_drift": finding.prediction_drift,
        "evidence": evidence, "drifted": [d.feature for d in drifts if d.drifted],
        "ranking": [row["feature"] for row in impact.rows],
        "kpi": {"metric": finding.metric, "value": finding.value, "realised": finding.realised,
                "estimated": finding.estimated, "prediction_psi": finding.prediction_psi,
                "comparisons": [vars(c) for c in finding.comparisons]},
        "features": features_json,
    }
    from lowops.stages.drift_outputs import clean

    verdict_json = clean(verdict_json)
    text = summary_text(window.label, cfg.model.name, meta["version"], finding, settings.model_drift,
                        settings.thresholds.prediction_psi, late_lines)
    files = write_window(ctx.repo, window.label, drifts, impact, text, verdict_json)
    if settings.sweetviz.enabled and reference_rows is not None:
        files.update(_sweetviz(ctx, window, reference_rows, current, label_frame))
    count = log_window(ctx, window.label, meta["version"], len(current), drifts, impact, finding, verdict_json)
    drifted = [d.feature for d in drifts if d.drifted]
    ctx.log.event("monitor", f"{len(drifts)} features, drifted: {', '.join(drifted) or 'none'}; drift that "
                  f"matters: {'yes' if impact.matters else 'no'}; model drift: {'yes' if model_drift else 'no'} "
                  f"({finding.basis}); {count} metrics logged -> {monitoring_dir(ctx.repo, window.label)}",
                  level="WARN" if impact.matters or model_drift else "INFO")
    return DriftVerdict(window.label, drift_that_matters=impact.matters, model_drift=model_drift,
                        evidence=tuple(evidence),
                        details={**verdict_json, "files": files, "metrics_logged": count})


def _model_drift(ctx: Context, window: Window, meta: dict[str, Any], scores: np.ndarray, reference: Reference,
                 realised: dict[str, float], threshold: float) -> ModelDrift:
    """Realised KPI against T-1, T-2 and the benchmark; else the CBPE estimate; and prediction drift."""
    cfg = ctx.config
    metric = cfg.train.primary_metric
    psi = numeric_drift(reference.score, scores)["psi"] if reference.score is not None else math.nan
    estimated: dict[str, float] = {}
    if meta["task"] == "classification" and reference.calibration is not None:
        estimated = cbpe.estimate(scores, reference.calibration, threshold)
    if metric in realised and math.isfinite(realised[metric]):
        basis, value = "realised", float(realised[metric])
    elif metric in estimated and math.isfinite(estimated[metric]):
        basis, value = "estimated", float(estimated[metric])
    else:
        basis, value = "none", None
    comparisons = () if value is None else compare(
        metric, value, references(ctx.repo, cfg.model.name, metric, window, meta), cfg.drift.model_drift)
    prediction_drift = math.isfinite(psi) and psi > cfg.drift.thresholds.prediction_psi
    return ModelDrift(metric, basis, value, comparisons, dict(realised), estimated, float(psi), prediction_drift)


def _sweetviz(ctx: Context, window: Window, reference_rows: pd.DataFrame, current: pd.DataFrame,
              label_frame: pd.DataFrame | None) -> dict[str, str]:
    from lowops.stages.drift_sweetviz import REPORT_FILE, compare_report, sample

    cfg = ctx.config
    key, target = cfg.entity_key, cfg.labels.target
    rows, seed = cfg.drift.sweetviz.max_rows, cfg.drift.impact.seed
    cur = current
    if label_frame is not None:
        cur = current.merge(label_frame[[key, target]], on=key, how="left")
    cur = sample(cur.drop(columns=[key]), rows, seed)
    ref = sample(reference_rows.drop(columns=[key], errors="ignore"), rows, seed)
    path = monitoring_dir(ctx.repo, window.label) / REPORT_FILE
    try:
        compare_report(ref, cur, path, target=target if label_frame is not None else None, window=window.label)
    except Exception as exc:  # noqa: BLE001 - a third-party report must never cost the verdict
        ctx.log.event("monitor", f"Sweetviz report failed ({type(exc).__name__}: {exc}); drift results "
                      "are unaffected", level="WARN")
        return {}
    return {REPORT_FILE: str(path.relative_to(ctx.repo))}


def ledger_summary(verdict: DriftVerdict) -> dict[str, Any]:
    """What the run ledger keeps of a verdict (the full figures are in ``monitoring/<window>/``)."""
    details = verdict.details
    return {"drift_that_matters": verdict.drift_that_matters, "model_drift": verdict.model_drift,
            "model_drift_basis": details.get("model_drift_basis"), "drifted": details.get("drifted", []),
            "evidence": list(verdict.evidence), "files": details.get("files", {})}


def drift_only(ctx: Context, window: Window) -> DriftVerdict:
    """``lowops drift``: check one window against the live model (extracting it if not yet snapshotted).

    Raises:
        NotTrainedError: no version is live.
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    from lowops.stages.extract import extract_features, extract_labels
    from lowops.stages.pipeline import load_live, locked, recorded, stage
    from lowops.windows import check_not_future

    check_not_future(window)
    with locked(ctx, f"lowops drift --window {window.label}"), recorded(ctx, "drift", window.label) as ledger:
        model, meta, _slot = load_live(ctx)
        features = snapshots.latest(ctx.repo, window.label, "features")
        if features is None:
            with stage(ledger, "extract") as out:
                features = extract_features(ctx, window)
                out.update(features=features.version if features else None)
        if features is None:
            ledger.finish("empty")
            return DriftVerdict(window.label, details={"status": "empty"})
        labels = snapshots.latest(ctx.repo, window.label, "labels")
        if labels is None and ctx.labels_due(window):
            labels = extract_labels(ctx, window)
        with stage(ledger, "monitor") as out:
            verdict = monitor(ctx, window, features=features, model=model, meta=meta, labels=labels)
            out.update(ledger_summary(verdict))
        ledger.finish("done")
        return verdict
