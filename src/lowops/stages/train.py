"""Train: assemble labelled windows from snapshots, fit, evaluate on the hold-out, register.

The hold-out is the most recent labelled window of the range; the model never
trains on it, so its hold-out score is an honest benchmark for later windows
(and for comparing generations of models on the same rows).
"""

from __future__ import annotations

import io
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lowops import __version__
from lowops.errors import ConfigError, DataError
from lowops.io import deploy, registry, snapshots
from lowops.io.lineage import git_state, package_versions
from lowops.stages import metrics as metric_fns
from lowops.stages import modeling, plots
from lowops.stages.context import Context
from lowops.stages.extract import extract_features, extract_labels
from lowops.stages.reference import reference_files
from lowops.windows import Window


@dataclass(frozen=True)
class TrainResult:
    version: str
    metadata: dict[str, Any]
    went_live: bool


def assemble(ctx: Context, end: Window, *, full: bool = False) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The labelled rows of the training range ending at ``end``, oldest window first.

    Windows already snapshotted are read back; only what is missing is extracted
    (``full`` re-extracts everything).
    """
    key, target = ctx.config.entity_key, ctx.config.labels.target
    frames, used = [], []
    for offset in range(ctx.config.train.windows - 1, -1, -1):
        window = end.prev(offset)
        feats = None if full else snapshots.latest(ctx.repo, window.label, "features")
        if feats is None:
            feats = extract_features(ctx, window)
        if feats is None:
            ctx.log.event("train", f"window {window.label} has no feature rows; skipped", level="WARN")
            continue
        labels = None if full else snapshots.latest(ctx.repo, window.label, "labels")
        if labels is None and ctx.labels_due(window):
            labels = extract_labels(ctx, window)
        if labels is None:
            ctx.log.event("train", f"window {window.label} has no labels yet; skipped", level="WARN")
            continue
        joined = snapshots.load(feats).merge(snapshots.load(labels), on=key, how="inner")
        joined["__window"] = window.label
        frames.append(joined)
        used.append({"window": window.label, "features": feats.version, "labels": labels.version})
    if len(frames) < 2:
        raise DataError(
            f"Training needs at least 2 labelled windows up to {end.label} (one to train on, the most "
            f"recent as hold-out); found {len(frames)}. Check labels.sql, windows.label_delay and "
            "train.windows."
        )
    data = pd.concat(frames, ignore_index=True)
    if data[target].isna().any():
        data = data[data[target].notna()]
    return data, used


def _importance(pipeline: Any, x: pd.DataFrame, y: Any, scoring: str, seed: int) -> dict[str, float]:
    """Permutation importance of each source column on the hold-out, normalised to sum 1.

    Permuting the raw input columns attributes one-hot columns to their source
    feature by construction, and works for any estimator.
    """
    from sklearn.inspection import permutation_importance

    sample = x.sample(n=min(len(x), 5000), random_state=seed) if len(x) > 5000 else x
    y_sample = np.asarray(y)[x.index.get_indexer(sample.index)]
    result = permutation_importance(pipeline, sample, y_sample, scoring=scoring, n_repeats=3,
                                    random_state=seed, n_jobs=1)
    raw = np.clip(result.importances_mean, 0, None)
    total = raw.sum()
    values = raw / total if total > 0 else np.full(len(raw), 1 / len(raw))
    return {str(c): float(v) for c, v in zip(sample.columns, values)}


def _search(pipeline: Any, search: Any, scoring: str, folds: int, seed: int, n_jobs: int) -> Any:
    from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

    grid = {f"estimator__{k}": v for k, v in search.params.items()}
    cv = KFold(n_splits=max(folds, 2), shuffle=True, random_state=seed)
    if search.kind == "grid":
        return GridSearchCV(pipeline, grid, scoring=scoring, cv=cv, n_jobs=n_jobs, refit=True)
    return RandomizedSearchCV(pipeline, grid, n_iter=search.n_iter, scoring=scoring, cv=cv,
                              n_jobs=n_jobs, refit=True, random_state=seed)


def train(ctx: Context, end: Window, *, full: bool = False, reason: str = "by hand",
          make_live_if_first: bool = True) -> TrainResult:
    """Train and register a new version on the windows ending at ``end``.

    Args:
        ctx: the command's context (holding the repository lock).
        end: the most recent window of the range; its labels are the hold-out.
        full: re-extract every window instead of reusing snapshots.
        reason: why this training happened (recorded in the lineage).
        make_live_if_first: deploy the version when no version is live yet.

    Returns:
        The new version, its metadata and whether it went live.

    Raises:
        DataError: too few labelled windows, or a target that is not binary.
        ConfigError: the estimator or its parameters do not fit.
    """
    cfg = ctx.config
    key, target, task = cfg.entity_key, cfg.labels.target, cfg.model.task
    data, used = assemble(ctx, end, full=full)
    holdout_window = used[-1]["window"]
    excluded = {key, target, "__window", *cfg.features.exclude}
    feature_cols = [c for c in data.columns if c not in excluded]
    numeric, categorical = modeling.split_columns(data[feature_cols])
    data = modeling.prepare_categoricals(data, categorical)
    if task == "classification":
        classes = sorted(pd.unique(data[target]))
        if len(classes) != 2 or set(map(float, classes)) != {0.0, 1.0}:
            raise DataError(f"labels.target '{target}' must hold the two classes 0 and 1 for "
                            f"classification; found {classes[:10]}.")
        y_all = data[target].astype(int).to_numpy()
    else:
        y_all = pd.to_numeric(data[target], errors="raise").astype(float).to_numpy()
    is_holdout = (data["__window"] == holdout_window).to_numpy()
    x_train, y_train = data.loc[~is_holdout, feature_cols], y_all[~is_holdout]
    x_hold, y_hold = data.loc[is_holdout, feature_cols].reset_index(drop=True), y_all[is_holdout]

    cls = modeling.estimator_class(cfg.model.estimator.class_, cfg.model.allowed_modules, ctx.project.config_path)
    estimator = modeling.build_estimator(cls, dict(cfg.model.estimator.params), cfg.model.random_state,
                                         cfg.compute.n_jobs, ctx.project.config_path)
    pipeline = modeling.build_pipeline(estimator, numeric, categorical)
    scoring = metric_fns.sklearn_scorer(cfg.train.primary_metric)
    seed = cfg.model.random_state

    cv_scores: list[float] = []
    if cfg.train.cv_folds >= 2:
        from sklearn.model_selection import KFold, cross_val_score

        try:
            cv = KFold(n_splits=cfg.train.cv_folds, shuffle=True, random_state=seed)
            cv_scores = [float(s) for s in cross_val_score(pipeline, x_train, y_train, scoring=scoring, cv=cv,
                                                           n_jobs=1)]
        except ValueError as exc:
            raise ConfigError(f"{ctx.project.config_path}: training failed with the configured estimator: "
                              f"{exc}") from None
        if scoring.startswith("neg_"):
            cv_scores = [-s for s in cv_scores]

    started = time.perf_counter()
    try:
        if cfg.model.search is not None:
            searcher = _search(pipeline, cfg.model.search, scoring, cfg.train.cv_folds, seed, cfg.compute.n_jobs)
            with ctx.engine.search_backend():  # on Dask, each candidate-fold fit is a task on the cluster
                searcher.fit(x_train, y_train)
            pipeline, best_params = searcher.best_estimator_, searcher.best_params_
        else:
            pipeline.fit(x_train, y_train)
            best_params = None
    except ValueError as exc:
        raise ConfigError(f"{ctx.project.config_path}: the estimator refused its parameters or the data: "
                          f"{exc}") from None
    fit_seconds = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    started = time.perf_counter()
    if task == "classification":
        hold_score = pipeline.predict_proba(x_hold)[:, 1]
    else:
        hold_score = pipeline.predict(x_hold)
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(x_hold), 1) * 1000
    hold_metrics = metric_fns.compute(task, y_hold, hold_score, cfg.train.threshold)
    importance = _importance(pipeline, x_hold, y_hold, scoring, seed)

    buffer = io.BytesIO()
    import joblib

    joblib.dump(pipeline, buffer)
    model_bytes = buffer.getvalue()

    title = f"{cfg.model.name} hold-out {holdout_window}"
    figures = (plots.classification_plots(y_hold, hold_score, title) if task == "classification"
               else plots.regression_plots(y_hold, hold_score, title))
    figures.update(plots.importance_plot(importance, cfg.model.name))
    # Monitoring's reference, stored beside the version so drift checks never re-read the training data.
    figures.update(reference_files(
        data, numeric, categorical, target, cfg.drift, scores=hold_score,
        labels=y_hold if task == "classification" else None, seed=seed,
        source={"kind": "training", "windows": [u["window"] for u in used], "holdout_window": holdout_window}))

    sql_hashes = {name: sql.sha256 for name, sql in ctx.mart_sql().items()}
    sql_hashes["labels"] = ctx.label_sql().sha256
    metadata: dict[str, Any] = {
        "model": cfg.model.name,
        "task": task,
        "created_at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": reason,
        "run_id": ctx.run_id,
        "estimator": {"class": cfg.model.estimator.class_, "params": dict(cfg.model.estimator.params),
                      "best_params": best_params, "random_state": seed},
        "lineage": {
            "data": used,
            "train_windows": [u["window"] for u in used[:-1]],
            "holdout_window": holdout_window,
            "rows": {"train": int(len(x_train)), "holdout": int(len(x_hold))},
            "config_hash": ctx.project.section_hash(),
            "model_config_hash": ctx.project.section_hash("model", "train", "features", "labels", "entity_key"),
            "sql_sha256": sql_hashes,
            "git": git_state(ctx.project.root),
            "packages": package_versions(),
            "lowops": __version__,
        },
        "metrics": {
            "holdout": hold_metrics,
            "cv": {"metric": cfg.train.primary_metric, "folds": len(cv_scores),
                   "mean": float(np.mean(cv_scores)) if cv_scores else None,
                   "std": float(np.std(cv_scores)) if cv_scores else None, "scores": cv_scores},
            "primary": cfg.train.primary_metric,
            "threshold": cfg.train.threshold,
        },
        "importance": {"method": "permutation on the hold-out, per source column", "values": importance},
        "schema": {"entity_key": key, "target": target,
                   **modeling.schema_contract(data[feature_cols], numeric, categorical)},
        "profile": {"fit_seconds": round(fit_seconds, 3), "peak_rss_mb": round(peak_rss_mb, 1),
                    "model_bytes": len(model_bytes), "predict_ms_per_1000_rows": round(latency_ms, 3)},
    }
    metrics_text = "".join(f"holdout.{k} {v:.6f}\n" for k, v in sorted(hold_metrics.items()))
    if cv_scores:
        metrics_text += f"cv.{cfg.train.primary_metric}.mean {np.mean(cv_scores):.6f}\n"
    version, metadata = registry.register(ctx.repo, cfg.model.name, model_bytes, metadata, metrics_text, figures)
    primary = hold_metrics.get(cfg.train.primary_metric, float("nan"))
    ctx.log.event("train", f"registered {cfg.model.name} {version}: hold-out {holdout_window} "
                  f"{cfg.train.primary_metric}={primary:.4f}, trained on {len(x_train)} rows "
                  f"({', '.join(metadata['lineage']['train_windows'])}) in {fit_seconds:.1f}s")
    went_live = False
    if make_live_if_first and deploy.read_pointer(ctx.repo, cfg.model.name) is None:
        deploy.switch(ctx.repo, cfg.model.name, version, by="lowops", reason="first trained version",
                      window=end.label)
        ctx.log.event("deploy", f"{cfg.model.name} {version} is live (first version, slot blue)")
        went_live = True
    return TrainResult(version, metadata, went_live)
