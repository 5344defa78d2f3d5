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

from lowops.io.logs import read_metrics
from lowops.model.metrics import LOWER_IS_BETTER

if TYPE_CHECKING:
    from pathlib import Path

    from lowops.config_schema import ModelDriftConfig
    from lowops.model.card import ModelCard
    from lowops.windows import Window


def kpi_history(repo: Path, model: str, metric: str) -> dict[str, dict[str, Any]]:
    """The latest realised value of ``metric`` per window (``{"value", "version"}``)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in read_metrics(repo):
        if row["model"] == model and row["metric"] == metric and math.isfinite(row["value"]):
            latest[row["window"]] = {"value": row["value"], "version": row["version"]}
    return latest


def latest_value(repo: Path, model: str, metric: str, window: str) -> float | None:
    """The latest logged value of one metric in one window, if any."""
    found = kpi_history(repo, model, metric).get(window)
    return None if found is None else float(found["value"])


def drop(metric: str, value: float, reference: float) -> float:
    """How much worse ``value`` is than ``reference`` (positive: worse), whatever the metric's direction."""
    return value - reference if metric in LOWER_IS_BETTER else reference - value


@dataclass(frozen=True)
class Comparison:
    """The KPI against one reference point."""

    against: str  # "T-1 (2025-07)", "benchmark (v0001 hold-out 2024-12)"
    reference: float
    drop: float
    flagged: bool


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

    @property
    def flagged(self) -> bool:
        return any(c.flagged for c in self.comparisons)


def compare(metric: str, value: float, references: list[tuple[str, float | None]],
            settings: ModelDriftConfig) -> tuple[Comparison, ...]:
    """Compare a KPI with each available reference point under the configured tolerances.

    A drop is model drift when it exceeds ``absolute_tolerance`` (in the
    metric's units) or ``relative_tolerance`` (a share of the reference
    value); a tolerance set to null is not applied.

    Args:
        metric: the KPI's name (its direction: higher or lower is better).
        value: the KPI at T.
        references: ``(label, value)`` per reference point; None values are skipped.
        settings: the ``drift.model_drift`` config section.

    Returns:
        One comparison per available reference point.
    """
    out = []
    for label, reference in references:
        if reference is None or not math.isfinite(reference) or not math.isfinite(value):
            continue
        worse = drop(metric, value, reference)
        flagged = (settings.absolute_tolerance is not None and worse > settings.absolute_tolerance) or (
            settings.relative_tolerance is not None and reference != 0
            and worse / abs(reference) > settings.relative_tolerance)
        out.append(Comparison(label, reference, worse, bool(flagged)))
    return tuple(out)


def references(repo: Path, model: str, metric: str, window: Window, card: ModelCard) -> list[tuple[str, float | None]]:
    """T-1, T-2 (realised, from the metrics log) and the version's hold-out benchmark."""
    history = kpi_history(repo, model, metric)
    points: list[tuple[str, float | None]] = []
    for lag in (1, 2):
        label = window.prev(lag).label
        found = history.get(label)
        points.append((f"T-{lag} ({label}, {found['version']})" if found else f"T-{lag} ({label})",
                       None if found is None else float(found["value"])))
    benchmark = card.metrics.holdout.get(metric)
    points.append((f"benchmark ({card.version or '?'} hold-out {card.lineage.holdout_window})",
                   None if benchmark is None else float(benchmark)))
    return points


def summary_text(window: str, model: str, version: str, finding: ModelDrift, tolerance: ModelDriftConfig,
                 threshold_psi: float, late: list[str]) -> str:
    """The human-readable ``model_drift.txt`` of a window."""
    lines = [f"model drift, window {window}, {model} {version}", ""]
    metric = finding.metric
    if finding.basis == "none":
        lines.append(f"{metric}: no labels yet and no estimate available")
    else:
        what = "realised (labels)" if finding.basis == "realised" else "estimated by CBPE (no labels yet)"
        lines.append(f"{metric} at {window}: {finding.value:.4f}, {what}")
    tol = []
    if tolerance.absolute_tolerance is not None:
        tol.append(f"absolute {tolerance.absolute_tolerance:g}")
    if tolerance.relative_tolerance is not None:
        tol.append(f"relative {tolerance.relative_tolerance:.1%}")
    for c in finding.comparisons:
        state = "MODEL DRIFT" if c.flagged else "within tolerance"
        lines.append(f"  vs {c.against}: {c.reference:.4f}, drop {c.drop:+.4f} -> {state}")
    lines.append(f"tolerance: a drop beyond {' or '.join(tol) or 'nothing (tolerances off)'}")
    lines.append("")
    if finding.estimated:
        lines.append("CBPE estimate: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(finding.estimated.items())))
    if finding.realised:
        lines.append("realised:      " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(finding.realised.items())))
        est = finding.estimated.get(metric)
        if est is not None and metric in finding.realised:
            lines.append(f"estimate error ({metric}): {est - finding.realised[metric]:+.4f}")
    state = "PREDICTION DRIFT" if finding.prediction_drift else "stable"
    lines.append(f"prediction drift: score PSI {finding.prediction_psi:.4f} (threshold {threshold_psi:g}) -> {state}")
    lines.extend(late)
    lines.append("")
    lines.append(f"verdict: {'MODEL DRIFT' if finding.flagged else 'no model drift'} (basis: {finding.basis})")
    return "\n".join(lines) + "\n"
