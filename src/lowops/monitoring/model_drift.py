"""Model drift: the primary KPI at T against T-1, T-2 and the version's hold-out benchmark.

Realised KPIs come from ``logs/metrics.log`` (the lines ``evaluate`` writes
once a window's labels exist). When labels are late (``windows.label_delay``)
the window is judged on the CBPE estimate and its prediction drift; a later
run picks the labels up (``stages.evaluate.late_labels``), evaluates the stored
predictions, and logs the realised KPI beside the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.io.logs import read_metrics
from lowops.model.bootstrap import standard_error
from lowops.model.metrics import LOWER_IS_BETTER, TARGET_SCALE

if TYPE_CHECKING:
    from pathlib import Path

    from lowops.config_schema import ModelDriftConfig
    from lowops.model.card import ModelCard
    from lowops.windows import Window

# The tolerance when no standard error is known anywhere (versions and logs from before they were kept):
# in the KPI's units for a bounded one (ROC AUC, R², MAPE), a share of the compared KPI for one in the
# target's units (RMSE, MAE).
FALLBACK_TOLERANCE = 0.02
FALLBACK_RELATIVE = 0.05
ESTIMATORS = {"cbpe": "CBPE", "dle": "DLE"}  # how an estimate without labels came about


def kpi_history(repo: Path, model: str, metric: str) -> dict[str, dict[str, Any]]:
    """The latest realised value of ``metric`` per window (``{"value", "version", "rows", "se"}``).

    ``se`` is the bootstrap standard error logged beside it (``se.<metric>``), if any.
    """
    latest: dict[str, dict[str, Any]] = {}
    errors: dict[tuple[str, str], float] = {}
    for row in read_metrics(repo):
        if row["model"] != model or not math.isfinite(row["value"]):
            continue
        if row["metric"] == metric:
            latest[row["window"]] = {"value": row["value"], "version": row["version"], "rows": row["rows"]}
        elif row["metric"] == f"se.{metric}":
            errors[(row["window"], row["version"])] = row["value"]
    for window, found in latest.items():
        found["se"] = errors.get((window, found["version"]))
    return latest


def latest_value(repo: Path, model: str, metric: str, window: str) -> float | None:
    """The latest logged value of one metric in one window, if any."""
    found = kpi_history(repo, model, metric).get(window)
    return None if found is None else float(found["value"])


def drop(metric: str, value: float, reference: float) -> float:
    """How much worse ``value`` is than ``reference`` (positive: worse), whatever the metric's direction."""
    return value - reference if metric in LOWER_IS_BETTER else reference - value


def with_standard_error(values: dict[str, float], metric: str, task: str, y: np.ndarray, scores: np.ndarray,
                        threshold: float, settings: ModelDriftConfig, seed: int) -> dict[str, float]:
    """``values`` with ``se.<metric>``, the bootstrap standard error of the KPI on these rows, added."""
    if metric not in values or settings.noise_sigmas is None:
        return values
    se = standard_error(metric, task, y, scores, threshold=threshold, resamples=settings.bootstrap, seed=seed)
    return {**values, f"se.{metric}": se} if math.isfinite(se) else values


@dataclass(frozen=True)
class Point:
    """A KPI to compare with: where it comes from, its value, standard error and rows."""

    label: str  # "T-1 (2025-07, v0001)", "benchmark (v0001 hold-out 2024-12)"
    value: float | None
    se: float | None = None
    rows: int | None = None


@dataclass(frozen=True)
class Comparison:
    """The KPI against one reference point."""

    against: str  # "T-1 (2025-07)", "benchmark (v0001 hold-out 2024-12)"
    reference: float
    drop: float
    flagged: bool
    tolerance: float = math.nan  # the drop beyond which this comparison is model drift
    rule: str = ""  # how the tolerance came about


@dataclass(frozen=True)
class ModelDrift:
    """The model-drift finding of one window."""

    metric: str
    basis: str  # realised | estimated | none
    value: float | None  # the KPI judged (realised, else estimated)
    comparisons: tuple[Comparison, ...] = ()
    realised: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)
    prediction_psi: float = math.nan
    prediction_drift: bool = False
    method: str = "cbpe"  # what estimated the KPI without labels: cbpe (a classifier) | dle (a regressor)
    class_psi: dict[str, float] = field(default_factory=dict)  # multiclass: each class's probability's PSI

    @property
    def flagged(self) -> bool:
        return any(c.flagged for c in self.comparisons)


def _scaled(se: float | None, rows: int | None, to_rows: int | None) -> float | None:
    """A standard error carried to another row count (it shrinks as one over the root of the rows)."""
    if se is None or not math.isfinite(se) or not rows or not to_rows:
        return None
    return se * math.sqrt(rows / to_rows)


def tolerance(current: Point, reference: Point, settings: ModelDriftConfig,
              metric: str = "") -> tuple[float | None, str]:
    """The drop beyond which ``current`` against ``reference`` is model drift, and how it came about.

    The noise part is ``noise_sigmas`` standard errors of the difference of two
    independent estimates, sqrt(se_T² + se_ref²); a KPI without a standard error
    of its own (an estimate, a version trained before they were kept) borrows
    the other's, carried to its row count. The absolute and relative tolerances
    are floors under it. None: nothing to judge by (noise off, no floor).
    With no standard error known anywhere the tolerance is :data:`FALLBACK_TOLERANCE`,
    or :data:`FALLBACK_RELATIVE` of the compared KPI for a metric in the target's units.
    """
    parts, rule = [], []
    if settings.noise_sigmas is not None:
        se_t = current.se if current.se is not None else _scaled(reference.se, reference.rows, current.rows)
        se_r = reference.se if reference.se is not None else _scaled(current.se, current.rows, reference.rows)
        if se_t is not None and se_r is not None:
            parts.append(settings.noise_sigmas * math.hypot(se_t, se_r))
            rule.append(f"{settings.noise_sigmas:g} x se {math.hypot(se_t, se_r):.4f}")
    if settings.absolute_tolerance is not None:
        parts.append(settings.absolute_tolerance)
        rule.append(f"absolute {settings.absolute_tolerance:g}")
    if settings.relative_tolerance is not None and reference.value:
        parts.append(settings.relative_tolerance * abs(reference.value))
        rule.append(f"relative {settings.relative_tolerance:.1%}")
    if not parts and settings.noise_sigmas is not None:
        if metric in TARGET_SCALE and reference.value:
            parts.append(FALLBACK_RELATIVE * abs(reference.value))
            rule.append(f"no standard error known: relative {FALLBACK_RELATIVE:.0%}")
        else:
            parts.append(FALLBACK_TOLERANCE)
            rule.append(f"no standard error known: {FALLBACK_TOLERANCE:g}")
    return (max(parts), ", ".join(rule)) if parts else (None, "tolerances off")


def compare(metric: str, current: Point, references: list[Point],
            settings: ModelDriftConfig) -> tuple[Comparison, ...]:
    """Compare a KPI with each available reference point; a drop beyond its tolerance is model drift.

    Args:
        metric: the KPI's name (its direction: higher or lower is better).
        current: the KPI at T, with its standard error and rows where known.
        references: T-1, T-2 and the benchmark; points without a value are skipped.
        settings: the ``drift.model_drift`` config section.

    Returns:
        One comparison per available reference point.
    """
    out = []
    value = current.value
    for ref in references:
        if ref.value is None or not math.isfinite(ref.value) or value is None or not math.isfinite(value):
            continue
        worse = drop(metric, value, ref.value)
        limit, rule = tolerance(current, ref, settings, metric)
        flagged = limit is not None and worse > limit
        out.append(Comparison(ref.label, ref.value, worse, bool(flagged),
                              math.nan if limit is None else limit, rule))
    return tuple(out)


def references(repo: Path, model: str, metric: str, window: Window, card: ModelCard) -> list[Point]:
    """T-1, T-2 (realised, from the metrics log) and the version's hold-out benchmark."""
    history = kpi_history(repo, model, metric)
    points: list[Point] = []
    for lag in (1, 2):
        label = window.prev(lag).label
        found = history.get(label)
        if found is None:
            points.append(Point(f"T-{lag} ({label})", None))
            continue
        points.append(Point(f"T-{lag} ({label}, {found['version']})", float(found["value"]), found["se"],
                            int(found["rows"])))
    benchmark = card.metrics.holdout.get(metric)
    points.append(Point(f"benchmark ({card.version or '?'} hold-out {card.lineage.holdout_window})",
                        None if benchmark is None else float(benchmark), card.metrics.holdout_se.get(metric),
                        card.lineage.rows.get("holdout")))
    return points


def tolerance_rule(settings: ModelDriftConfig) -> str:
    """The model-drift rule in words (``model_drift.txt``)."""
    floors = []
    if settings.absolute_tolerance is not None:
        floors.append(f"absolute {settings.absolute_tolerance:g}")
    if settings.relative_tolerance is not None:
        floors.append(f"relative {settings.relative_tolerance:.1%}")
    if settings.noise_sigmas is None:
        return f"a drop beyond {' or '.join(floors) or 'nothing (tolerances off)'}"
    floor = f", at least {' and '.join(floors)}" if floors else ""
    return (f"a drop beyond {settings.noise_sigmas:g} standard errors of the difference (bootstrap, "
            f"{settings.bootstrap} resamples){floor}")


def summary_text(window: str, model: str, version: str, finding: ModelDrift, tolerance: ModelDriftConfig,
                 threshold_psi: float, late: list[str]) -> str:
    """The human-readable ``model_drift.txt`` of a window."""
    lines = [f"model drift, window {window}, {model} {version}", ""]
    metric = finding.metric
    if finding.basis == "none":
        lines.append(f"{metric}: no labels yet and no estimate available")
    else:
        name = ESTIMATORS.get(finding.method, finding.method)
        what = "realised (labels)" if finding.basis == "realised" else f"estimated by {name} (no labels yet)"
        lines.append(f"{metric} at {window}: {finding.value:.4f}, {what}")
    for c in finding.comparisons:
        state = "MODEL DRIFT" if c.flagged else "within tolerance"
        limit = f"{c.tolerance:.4f} ({c.rule})" if math.isfinite(c.tolerance) else c.rule
        lines.append(f"  vs {c.against}: {c.reference:.4f}, drop {c.drop:+.4f}, tolerance {limit} -> {state}")
    lines.append(f"tolerance: {tolerance_rule(tolerance)}")
    lines.append("")
    if finding.estimated:
        lines.append(f"{ESTIMATORS.get(finding.method, finding.method)} estimate: "
                     + ", ".join(f"{k}={v:.4f}" for k, v in sorted(finding.estimated.items())))
    if finding.realised:
        lines.append("realised:      " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(finding.realised.items())))
        est = finding.estimated.get(metric)
        if est is not None and metric in finding.realised:
            lines.append(f"estimate error ({metric}): {est - finding.realised[metric]:+.4f}")
    state = "PREDICTION DRIFT" if finding.prediction_drift else "stable"
    per_class = (" (the largest of the classes' probabilities: "
                 + ", ".join(f"{name} {psi:.4f}" for name, psi in finding.class_psi.items()) + ")"
                 if finding.class_psi else "")
    lines.append(f"prediction drift: score PSI {finding.prediction_psi:.4f}{per_class} (threshold {threshold_psi:g}) "
                 f"-> {state}")
    lines.extend(late)
    lines.append("")
    lines.append(f"verdict: {'MODEL DRIFT' if finding.flagged else 'no model drift'} (basis: {finding.basis})")
    return "\n".join(lines) + "\n"
