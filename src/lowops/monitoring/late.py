"""Late labels: a window judged on its estimate (CBPE, DLE) is judged again once its labels arrive.

While ``windows.label_delay`` holds a window's labels back, monitoring judges
its model drift on the estimate (CBPE for a classifier, DLE for a regressor). A later run evaluates the window's stored
predictions (``stages.evaluate.late_labels``) and this module brings the
window's record to the realised basis: ``model_drift.txt`` and ``verdict.json``
are rewritten with the realised KPI against T-1, T-2 and the benchmark, the
estimate and its error beside it, and the two files as first written are kept,
unchanged, in ``monitoring/<window>/estimated/``. ``logs/metrics.log`` gets
the estimate's error (``cbpe.<metric>.error``, ``dle.<metric>.error``), the realised drops and the new
verdict under that window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lowops.io import layout
from lowops.io.files import write_bytes, write_json, write_text
from lowops.io.logs import read_metrics
from lowops.monitoring.model_drift import Comparison, ModelDrift
from lowops.monitoring.outputs import clean

if TYPE_CHECKING:
    from pathlib import Path

    from lowops.io.logs import MetricsLog


@dataclass(frozen=True)
class LateFinding:
    """An earlier window's model drift on its realised KPI, found when its labels arrived."""

    window: str
    version: str  # the version that scored it
    finding: ModelDrift  # basis "realised"
    updated: bool  # whether its monitoring record was brought to the realised basis

    @property
    def line(self) -> str:
        """The line the current window's ``model_drift.txt`` shows."""
        return (f"late labels: {self.window} realised {self.finding.metric}={self.finding.value:.4f} -> "
                f"{'MODEL DRIFT' if self.finding.flagged else 'within tolerance'}")

    @property
    def evidence(self) -> str:
        """Why the late window is model drift, naming it (the trigger's evidence)."""
        f = self.finding
        against = ", ".join(f"{c.against} {c.reference:.4f} (drop {c.drop:+.4f})" for c in f.comparisons if c.flagged)
        return f"late labels for {self.window} ({self.version}): {f.metric} realised {f.value:.4f} vs {against}"

    def summary(self) -> dict[str, Any]:
        """What the current window's ``verdict.json`` keeps of it."""
        f = self.finding
        return {"window": self.window, "version": self.version, "metric": f.metric, "realised": f.value,
                "estimated": f.estimated.get(f.metric), "model_drift": f.flagged, "updated": self.updated,
                "evidence": self.evidence if f.flagged else None}


def logged_estimates(repo: Path, model: str, window: str, version: str, method: str = "cbpe") -> dict[str, float]:
    """The latest estimates (``cbpe.<metric>`` or ``dle.<metric>`` lines) of one window by one version."""
    found: dict[str, float] = {}
    for row in read_metrics(repo):
        name = row["metric"]
        if row["model"] == model and row["window"] == window and row["version"] == version \
                and name.startswith(f"{method}.") and name.count(".") == 1:
            found[name.removeprefix(f"{method}.")] = float(row["value"])
    return found


def realised_finding(metric: str, values: dict[str, float], comparisons: tuple[Comparison, ...],
                     recorded: dict[str, Any] | None, estimates: dict[str, float], method: str = "cbpe") -> ModelDrift:
    """The window's finding on its realised KPIs, with the estimate and prediction drift it was recorded with.

    Args:
        metric: the primary metric.
        values: the realised KPIs.
        comparisons: the realised primary KPI against T-1, T-2 and the benchmark.
        recorded: the window's ``verdict.json`` (None when it was not monitored).
        estimates: the logged estimates, used when there is no record.
        method: what made them (cbpe | dle).
    """
    kpi = (recorded or {}).get("kpi") or {}
    estimated = {str(k): float(v) for k, v in (kpi.get("estimated") or {}).items() if v is not None} or estimates
    psi = kpi.get("prediction_psi")
    return ModelDrift(metric, "realised", float(values[metric]), comparisons, dict(values), estimated,
                      math.nan if psi is None else float(psi), bool((recorded or {}).get("prediction_drift")), method)


def estimate_errors(finding: ModelDrift) -> dict[str, float]:
    """Estimate minus realised, per metric that has both."""
    return {m: finding.estimated[m] - finding.realised[m] for m in sorted(set(finding.estimated) & set(finding.realised))
            if math.isfinite(finding.estimated[m]) and math.isfinite(finding.realised[m])}


def history_line(recorded: dict[str, Any], run_id: str, at: str, where: str) -> str:
    """What ``model_drift.txt`` says of the estimate it replaces."""
    kpi = recorded.get("kpi") or {}
    value = kpi.get("value")
    shown = f"{value:.4f}" if isinstance(value, (int, float)) else "none"
    return (f"labels arrived late: realised by run {run_id} at window {at}; before them, run "
            f"{recorded.get('run_id')} judged {kpi.get('metric')} {recorded.get('model_drift_basis')} {shown} -> "
            f"{'MODEL DRIFT' if recorded.get('model_drift') else 'no model drift'} (as first written: {where}/)")


def updated_verdict(recorded: dict[str, Any], finding: ModelDrift, run_id: str, at: str) -> dict[str, Any]:
    """The window's ``verdict.json`` on the realised basis, with what it said before under ``late_labels``."""
    metric = finding.metric
    kpi = dict(recorded.get("kpi") or {})
    before = {"run_id": recorded.get("run_id"), "model_drift": recorded.get("model_drift"),
              "model_drift_basis": recorded.get("model_drift_basis"), "value": kpi.get("value"),
              "comparisons": kpi.get("comparisons"), "evidence": recorded.get("evidence")}
    evidence = [line for line in recorded.get("evidence") or [] if not line.startswith(f"{metric} estimated ")]
    evidence.extend(f"{metric} realised {finding.value:.4f} vs {c.against} {c.reference:.4f} (drop {c.drop:+.4f})"
                    for c in finding.comparisons if c.flagged)
    kpi.update(value=finding.value, realised=finding.realised, estimated=finding.estimated,
               comparisons=[vars(c) for c in finding.comparisons])
    updated = {**recorded, "model_drift": finding.flagged, "model_drift_basis": "realised", "evidence": evidence,
               "kpi": kpi, "late_labels": {"run_id": run_id, "window": at,
                                           f"{finding.method}_error": estimate_errors(finding),
                                           "before": before}}
    updated.pop("files", None)
    cleaned: dict[str, Any] = clean(updated)
    return cleaned


def rewrite_record(repo: Path, window: str, text: str, verdict: dict[str, Any]) -> dict[str, str]:
    """Keep the window's estimated ``model_drift.txt`` and ``verdict.json`` in ``estimated/``, then replace them.

    Returns:
        File role to path relative to the repository, the kept ones under ``estimated/<name>``.
    """
    folder, kept = layout.monitoring_dir(repo, window), layout.estimated_dir(repo, window)
    files = {}
    for name in (layout.MODEL_DRIFT_FILE, layout.VERDICT_FILE):
        if (folder / name).is_file() and not (kept / name).exists():
            write_bytes(kept / name, (folder / name).read_bytes())
        files[f"{layout.ESTIMATED_DIR}/{name}"] = str((kept / name).relative_to(repo))
    write_text(folder / layout.MODEL_DRIFT_FILE, text, overwrite=True)
    write_json(folder / layout.VERDICT_FILE, verdict, overwrite=True)
    files.update({name: str((folder / name).relative_to(repo)) for name in (layout.MODEL_DRIFT_FILE,
                                                                            layout.VERDICT_FILE)})
    return files


def log_late(metrics: MetricsLog, late: LateFinding, rows: int) -> int:
    """The late window's ``<method>.<metric>.error``, realised drops and new verdict lines; how many were written."""
    f = late.finding
    lines = [(f"{f.method}.{m}.error", e) for m, e in estimate_errors(f).items()]
    lines.extend((f"kpi.{f.metric}.drop_{c.against.split(' ')[0].lower().replace('-', '')}", c.drop)
                 for c in f.comparisons)
    lines.append(("verdict.model_drift", float(f.flagged)))
    for name, value in lines:
        metrics.log(late.window, late.version, name, value, rows)
    return len(lines)
