"""Train: assemble labelled windows from snapshots, fit, evaluate on the hold-out, register.

A version trains on every labelled window of its range, the newest (T) included,
except the rows of held-out entities (``train.holdout_share``, by a hash of the
entity key, see :mod:`lowops.model.holdout`); their rows of T are the hold-out.
No version ever trains on a held-out entity, so the hold-out score is an honest
benchmark for later windows, and generations of models compare on the same rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lowops import __version__
from lowops.context import Context
from lowops.errors import DataError
from lowops.io import deploy, registry, snapshots
from lowops.io.lineage import git_state, package_versions
from lowops.model import build, plots
from lowops.model.card import (
    CrossValidation,
    DataUse,
    Estimator,
    Importance,
    Lineage,
    Metrics,
    ModelCard,
    Profile,
)
from lowops.model.contract import schema_contract
from lowops.model.fit import FitPlan, Fitted, fit
from lowops.model.holdout import HoldoutRule
from lowops.monitoring.dle import dle_files
from lowops.monitoring.model_drift import with_standard_error
from lowops.monitoring.reference import reference_files
from lowops.stages.extract import data_sql, extract_features, extract_labels, stored
from lowops.windows import Window


@dataclass(frozen=True)
class TrainResult:
    """A registered version: its card and whether it went live (the first version does)."""

    version: str
    card: ModelCard
    went_live: bool


@dataclass(frozen=True)
class _Rows:
    """The labelled rows of a training range, split into training and hold-out."""

    data: pd.DataFrame
    used: list[DataUse]
    numeric: list[str]
    categorical: list[str]
    x_train: pd.DataFrame
    y_train: np.ndarray
    x_hold: pd.DataFrame
    y_hold: np.ndarray
    x_unseen: pd.DataFrame  # every held-out entity's rows of the range: what importance is measured on
    y_unseen: np.ndarray

    @property
    def holdout_window(self) -> str:
        return self.used[-1].window


def assemble(ctx: Context, end: Window, *, full: bool = False) -> tuple[pd.DataFrame, list[DataUse]]:
    """The labelled rows of the training range ending at ``end``, oldest window first.

    Windows already snapshotted are read back; only what is missing is extracted
    (``full`` re-extracts everything).
    """
    key, target = ctx.config.entity_key, ctx.config.labels.target
    frames, used = [], []
    for offset in range(ctx.config.train.windows - 1, -1, -1):
        window = end.prev(offset)
        feats = None if full else stored(ctx, window, "features")
        if feats is None:
            feats = extract_features(ctx, window)
        if feats is None:
            ctx.log.event("train", f"window {window.label} has no feature rows; skipped", level="WARN")
            continue
        labels = None if full else stored(ctx, window, "labels")
        if labels is None and ctx.labels_due(window):
            labels = extract_labels(ctx, window)
        if labels is None:
            ctx.log.event("train", f"window {window.label} has no labels yet; skipped", level="WARN")
            continue
        joined = snapshots.load(feats).merge(snapshots.load(labels), on=key, how="inner")
        joined["__window"] = window.label
        frames.append(joined)
        used.append(DataUse(window.label, feats.version, labels.version))
    if not frames:
        raise DataError(
            f"Training needs a labelled window up to {end.label} (train.windows: {ctx.config.train.windows}); "
            "found none. Check labels.sql, windows.label_delay and train.windows."
        )
    data = pd.concat(frames, ignore_index=True)
    if data[target].isna().any():
        data = data[data[target].notna()]
    return data, used


def _rows(ctx: Context, end: Window, full: bool) -> _Rows:
    """The range's rows as the model sees them, and the target checked for the task."""
    cfg = ctx.config
    key, target = cfg.entity_key, cfg.labels.target
    data, used = assemble(ctx, end, full=full)
    excluded = {key, target, "__window", *cfg.features.exclude}
    feature_cols = [c for c in data.columns if c not in excluded]
    numeric, categorical = build.split_columns(data[feature_cols])
    data = build.prepare_categoricals(data, categorical)
    y_all: np.ndarray
    if ctx.classes:
        y_all = data[target].astype(int).to_numpy()  # each class's place in labels.classes (extract stored it)
    elif cfg.model.task == "classification":
        classes = sorted(pd.unique(data[target]))
        if len(classes) != 2 or set(map(float, classes)) != {0.0, 1.0}:
            raise DataError(f"labels.target '{target}' must hold the two classes 0 and 1 for "
                            f"classification; found {classes[:10]}.")
        y_all = data[target].astype(int).to_numpy()
    else:
        y_all = pd.to_numeric(data[target], errors="raise").astype(float).to_numpy()
    # The held-out entities are left out of every window, so no version learns them (model.holdout).
    held = HoldoutRule(cfg.train.holdout_share).held_out(data[key].to_numpy())
    is_holdout = held & (data["__window"] == used[-1].window).to_numpy()
    is_train = ~held
    if ctx.classes:
        _every_class(ctx.classes, target, [u.window for u in used], y_all[is_train], y_all[is_holdout])
    elif cfg.model.task == "classification":
        _both_classes(target, [u.window for u in used], y_all[is_train], "training range")
        _both_classes(target, [used[-1].window], y_all[is_holdout], "hold-out window", "rows: its held-out entities")
    return _Rows(data=data, used=used, numeric=numeric, categorical=categorical,
                 x_train=data.loc[is_train, feature_cols], y_train=y_all[is_train],
                 x_hold=data.loc[is_holdout, feature_cols].reset_index(drop=True), y_hold=y_all[is_holdout],
                 x_unseen=data.loc[held, feature_cols].reset_index(drop=True), y_unseen=y_all[held])


def _both_classes(target: str, windows: list[str], y: np.ndarray, what: str, rows: str = "rows") -> None:
    """A model learns, and its benchmark is measured, only where both classes occur.

    Raises:
        DataError: ``y`` holds one class (or none).
    """
    found = sorted(int(v) for v in np.unique(y))
    if len(found) < 2:
        raise DataError(f"The {what} {', '.join(windows)} holds {'only class ' + str(found[0]) if found else 'no'} "
                        f"label of labels.target '{target}' ({len(y)} {rows}); training and its benchmark need both "
                        "classes. Check labels.sql, or widen train.windows.")


def _every_class(classes: tuple[int | str, ...], target: str, windows: list[str], y_train: np.ndarray,
                 y_hold: np.ndarray) -> None:
    """A multiclass model learns every class of ``labels.classes``, and its benchmark needs two of them.

    Raises:
        DataError: a class is missing from the training range, or the hold-out holds fewer than two.
    """
    missing = [classes[c] for c in range(len(classes)) if not (y_train == c).any()]
    if missing:
        raise DataError(f"The training range {', '.join(windows)} holds no label {', '.join(map(repr, missing))} "
                        f"of labels.target '{target}' (labels.classes {list(classes)}); a multiclass model learns "
                        "every class. Check labels.sql and labels.classes, or widen train.windows.")
    if len(np.unique(y_hold)) < 2:
        raise DataError(f"The hold-out window {windows[-1]} holds fewer than two classes of labels.target "
                        f"'{target}' ({len(y_hold)} rows: its held-out entities); its benchmark needs two. "
                        "Check labels.sql, or raise train.holdout_share.")


def _pipeline(ctx: Context, rows: _Rows) -> Any:
    cfg = ctx.config
    cls = build.estimator_class(cfg.model.estimator.class_, cfg.model.allowed_modules, ctx.project.config_path,
                                cfg.model.task)
    estimator = build.build_estimator(cls, dict(cfg.model.estimator.params), cfg.model.random_state,
                                      cfg.compute.n_jobs, ctx.project.config_path)
    return build.build_pipeline(estimator, rows.numeric, rows.categorical)


def _files(ctx: Context, rows: _Rows, fitted: Fitted) -> dict[str, bytes]:
    """The plots and the monitoring reference stored beside the version."""
    cfg = ctx.config
    title = f"{cfg.model.name} hold-out {rows.holdout_window}"
    classifier = cfg.model.task == "classification"
    if ctx.classes:
        figures = plots.multiclass_plots(rows.y_hold, fitted.holdout_scores, ctx.classes, title)
    elif classifier:
        figures = plots.classification_plots(rows.y_hold, fitted.holdout_scores, title)
    else:
        figures = plots.regression_plots(rows.y_hold, fitted.holdout_scores, title)
    figures.update(plots.importance_plot(fitted.importance, cfg.model.name))
    # Monitoring's reference, stored beside the version so drift checks never re-read the training data.
    figures.update(reference_files(
        rows.data, rows.numeric, rows.categorical, cfg.labels.target, cfg.drift, scores=fitted.holdout_scores,
        labels=rows.y_hold if classifier else None, seed=cfg.model.random_state,
        source={"kind": "training", "windows": [u.window for u in rows.used],
                "holdout_window": rows.holdout_window}))
    if not classifier:  # the loss models behind a regressor's estimate without labels
        figures.update(dle_files(fitted.pipeline, rows.x_unseen, rows.y_unseen, rows.numeric, rows.categorical,
                                 cfg.model.random_state))
    return figures


def _holdout_se(ctx: Context, rows: _Rows, fitted: Fitted) -> dict[str, float]:
    """The benchmark's own noise: the bootstrap standard error of the primary metric on the hold-out."""
    cfg = ctx.config
    found = with_standard_error(fitted.holdout_metrics, cfg.train.primary_metric, cfg.model.task, rows.y_hold,
                                fitted.holdout_scores, cfg.train.threshold, cfg.drift.model_drift,
                                cfg.model.random_state)
    se = found.get(f"se.{cfg.train.primary_metric}")
    return {} if se is None else {cfg.train.primary_metric: se}


def _card(ctx: Context, rows: _Rows, fitted: Fitted, model_bytes: int, reason: str,
          train_seconds: float) -> ModelCard:
    cfg = ctx.config
    sql_hashes = data_sql(ctx, rows.used)  # what the data came from, as its manifests say
    cv = fitted.cv_scores
    features = [*rows.numeric, *rows.categorical]
    return ModelCard(
        model=cfg.model.name, task=cfg.model.task,
        created_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), reason=reason, run_id=ctx.run_id,
        estimator=Estimator(cfg.model.estimator.class_, dict(cfg.model.estimator.params), cfg.model.random_state,
                            fitted.best_params),
        lineage=Lineage(
            data=tuple(rows.used), train_windows=tuple(u.window for u in rows.used),
            holdout_window=rows.holdout_window, rows={"train": len(rows.x_train), "holdout": len(rows.x_hold)},
            holdout=HoldoutRule(cfg.train.holdout_share),
            config_hash=ctx.project.section_hash(),
            model_config_hash=ctx.project.section_hash("model", "train", "features", "labels", "entity_key"),
            sql_sha256=sql_hashes, git=git_state(ctx.project.root), packages=package_versions(), lowops=__version__),
        metrics=Metrics(holdout=fitted.holdout_metrics, primary=cfg.train.primary_metric,
                        threshold=cfg.train.threshold, holdout_se=_holdout_se(ctx, rows, fitted),
                        cv=CrossValidation(cfg.train.primary_metric, len(cv), float(np.mean(cv)) if cv else None,
                                           float(np.std(cv)) if cv else None, tuple(cv))),
        importance=Importance("permutation on the held-out entities' rows of the range, per source column",
                              fitted.importance),
        schema=schema_contract(rows.data[features], rows.numeric, rows.categorical,
                               entity_key=cfg.entity_key, target=cfg.labels.target),
        profile=Profile(fit_seconds=round(fitted.fit_seconds, 3), peak_rss_mb=round(fitted.peak_rss_mb, 1),
                        model_bytes=model_bytes, predict_ms_per_1000_rows=round(fitted.latency_ms, 3),
                        train_seconds=train_seconds),
        search=fitted.search, classes=ctx.classes)


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
        The new version, its card and whether it went live.

    Raises:
        DataError: too few labelled windows, or a target that is not binary.
        ConfigError: the estimator or its parameters do not fit.
    """
    started = time.perf_counter()  # the whole training, which the final fit is only a part of
    cfg = ctx.config
    rows = _rows(ctx, end, full)
    plan = FitPlan(task=cfg.model.task, primary=cfg.train.primary_metric, threshold=cfg.train.threshold,
                   cv_folds=cfg.train.cv_folds, search=cfg.model.search, seed=cfg.model.random_state,
                   n_jobs=cfg.compute.n_jobs, config_file=ctx.project.config_path, classes=ctx.classes)
    # On Dask, each candidate-fold fit of a search is a task on the cluster.
    backend = ctx.engine.search_backend() if cfg.model.search is not None else None
    fitted = fit(_pipeline(ctx, rows), rows.x_train, rows.y_train, rows.x_hold, rows.y_hold, plan, backend,
                 unseen=(rows.x_unseen, rows.y_unseen))
    model_bytes = registry.dump_model(fitted.pipeline, cfg.model.allowed_modules, ctx.project.config_path)
    files = _files(ctx, rows, fitted)
    train_seconds = round(time.perf_counter() - started, 3)  # up to registration: the card must hold it
    card = _card(ctx, rows, fitted, len(model_bytes), reason, train_seconds)
    metrics_text = "".join(f"holdout.{k} {v:.6f}\n" for k, v in sorted(fitted.holdout_metrics.items()))
    if fitted.cv_scores:
        metrics_text += f"cv.{cfg.train.primary_metric}.mean {np.mean(fitted.cv_scores):.6f}\n"
    card = registry.register(ctx.repo, cfg.model.name, model_bytes, card, metrics_text, files)
    version = str(card.version)
    primary = fitted.holdout_metrics.get(cfg.train.primary_metric, float("nan"))
    ctx.log.event("train", f"registered {cfg.model.name} {version}: hold-out {rows.holdout_window} "
                  f"{cfg.train.primary_metric}={primary:.4f}, trained on {len(rows.x_train)} rows "
                  f"({', '.join(card.lineage.train_windows)}) in {train_seconds:.1f} s "
                  f"(final fit {card.profile.fit_seconds:.1f} s)")
    went_live = False
    if make_live_if_first and deploy.read_pointer(ctx.repo, cfg.model.name) is None:
        deploy.switch(ctx.repo, cfg.model.name, version, by="lowops", reason="first trained version",
                      window=end.label)
        ctx.log.event("deploy", f"{cfg.model.name} {version} is live (first version, slot blue)")
        went_live = True
    return TrainResult(version, card, went_live)
