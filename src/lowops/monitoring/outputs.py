"""What monitoring writes: ``monitoring/<window>/`` files and ``logs/metrics.log`` lines.

``monitoring/<window>/`` holds the record of that window (a re-check of it by
``lowops drift`` writes the same files to ``recheck-<run>/`` inside it):

- ``data_drift.csv``: one row per feature, every statistic, the decision;
- ``impact.csv``: the ranking (drifted features first), importance-weighted
  and counterfactual impact (drifted features only: the others' counterfactual
  columns are empty), each measure's own rank; a classifier's also the share of
  classes the counterfactual flips;
- ``model_drift.txt``: the KPI against T-1, T-2 and the benchmark, its estimate (CBPE, DLE),
  prediction drift, in words;
- ``verdict.json``: the verdicts and the per-feature figures, for scripts,
  ``lowops status`` and the dashboard;
- ``sweetviz_compare.html`` (when enabled).

They are derived views, recomputable from the snapshots. ``lowops run --force``
replaces them; labels that arrive late update ``model_drift.txt`` and
``verdict.json`` to the realised basis, keeping the estimated ones in
``estimated/``; the history stays in ``logs/metrics.log``, which is only ever
appended to.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowops.io import layout
from lowops.io.files import atomic_write, read_json, write_json, write_text

if TYPE_CHECKING:
    from lowops.io.logs import MetricsLog
    from lowops.monitoring.drift import FeatureDrift
    from lowops.monitoring.impact import ImpactResult
    from lowops.monitoring.model_drift import ModelDrift

NUMERIC_METRICS = ("median_shift", "psi", "ks", "ks_pvalue", "wasserstein_norm", "missing_change")
CATEGORICAL_METRICS = ("psi", "jensen_shannon", "chi2_pvalue", "unseen_share", "missing_change")
IMPACT_COLUMNS = ("rank", "feature", "kind", "drifted", "method", "statistic", "drift_score", "importance",
                  "impact", "counterfactual_impact", "counterfactual_flip_share", "counterfactual_se",
                  "counterfactual_rows", "rank_impact", "rank_counterfactual")


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    with atomic_write(path, binary=False, overwrite=True) as handle:
        frame.to_csv(handle, index=False, lineterminator="\n", float_format="%.6g")


def feature_objects(drifts: list[FeatureDrift], impact: ImpactResult) -> dict[str, dict[str, Any]]:
    """One object per feature: its statistics, decision, ``impact`` and ``counterfactual_impact``."""
    ranked = {row["feature"]: row for row in impact.rows}
    out = {}
    for d in drifts:
        row = ranked[d.feature]
        out[d.feature] = clean({**d.stats, "kind": d.kind, "method": d.method, "statistic": d.statistic,
                                "threshold": d.threshold, "drifted": d.drifted, "drift_score": d.drift_score,
                                "importance": row["importance"], "impact": row["impact"],
                                "counterfactual_impact": row["counterfactual_impact"],
                                **({"counterfactual_flip_share": row["counterfactual_flip_share"]}
                                   if impact.classes else {}),
                                "counterfactual_se": row["counterfactual_se"],
                                "counterfactual_rows": row["counterfactual_rows"],
                                "rank": row["rank"], "rank_impact": row["rank_impact"],
                                "rank_counterfactual": row["rank_counterfactual"]})
    return out


def write_window(repo: Path, window: str, drifts: list[FeatureDrift], impact: ImpactResult,
                 model_text: str, verdict: dict[str, Any], folder: Path | None = None) -> dict[str, str]:
    """Write the window's files (replacing an earlier check's) and return their paths.

    Args:
        repo: the repository root.
        window: the window label.
        drifts: every feature's drift.
        impact: the ranking.
        model_text: the body of ``model_drift.txt``.
        verdict: the JSON summary (already JSON-safe).
        folder: where to write them (``monitoring/<window>/`` unless a re-check says otherwise).

    Returns:
        File role to path relative to the repository.
    """
    folder = folder or layout.monitoring_dir(repo, window)
    rows = [d.row() for d in drifts]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    _csv(folder / layout.DATA_DRIFT_FILE, rows, columns)
    columns = [c for c in IMPACT_COLUMNS if impact.classes or c != "counterfactual_flip_share"]
    _csv(folder / layout.IMPACT_FILE, impact.rows, columns)
    write_text(folder / layout.MODEL_DRIFT_FILE, model_text, overwrite=True)
    write_json(folder / layout.VERDICT_FILE, verdict, overwrite=True)
    return {name: str((folder / name).relative_to(repo)) for name in layout.MONITORING_FILES}


def log_window(metrics: MetricsLog, window: str, version: str, rows: int, drifts: list[FeatureDrift],
               impact: ImpactResult, finding: ModelDrift | None, verdict: dict[str, Any]) -> int:
    """Append one ``logs/metrics.log`` line per statistic; returns how many were written."""
    lines: list[tuple[str, float]] = []
    for d in drifts:
        names = NUMERIC_METRICS if d.kind == "numeric" else CATEGORICAL_METRICS
        lines.extend((f"drift.{d.feature}.{stat}", float(d.stats.get(stat, math.nan))) for stat in names)
        if d.kind == "categorical":
            lines.append((f"drift.{d.feature}.vanished", float(len(d.stats.get("vanished", [])))))
        lines.append((f"drift.{d.feature}.drifted", float(d.drifted)))
    for row in impact.rows:
        lines.append((f"impact.{row['feature']}", float(row["impact"])))
        if math.isfinite(row["counterfactual_impact"]):  # drifted features only
            lines.append((f"impact.{row['feature']}.counterfactual", float(row["counterfactual_impact"])))
            if impact.classes:
                lines.append((f"impact.{row['feature']}.flip_share", float(row["counterfactual_flip_share"])))
    if finding is not None:
        lines.append(("prediction.psi", finding.prediction_psi))
        lines.extend((f"prediction.psi_{name}", value) for name, value in finding.class_psi.items())
        lines.extend((f"{finding.method}.{k}", v) for k, v in sorted(finding.estimated.items()))
        lines.extend((f"kpi.{k}", v) for k, v in sorted(finding.realised.items()) if math.isfinite(v))
        if finding.basis == "realised":
            for c in finding.comparisons:
                lines.append((f"kpi.{finding.metric}.drop_{c.against.split(' ')[0].lower().replace('-', '')}",
                              c.drop))
        est, real = finding.estimated.get(finding.metric), finding.realised.get(finding.metric)
        if est is not None and real is not None:
            lines.append((f"{finding.method}.{finding.metric}.error", est - real))
    lines.append(("verdict.drift_that_matters", float(bool(verdict.get("drift_that_matters")))))
    lines.append(("verdict.model_drift", float(bool(verdict.get("model_drift")))))
    for metric, value in lines:
        metrics.log(window, version, metric, value, rows)
    return len(lines)


def recorded_verdict(repo: Path, window: str) -> dict[str, Any] | None:
    """The window's recorded ``verdict.json`` (with the paths of the recorded files), if it was monitored."""
    folder = layout.monitoring_dir(repo, window)
    if not (folder / layout.VERDICT_FILE).is_file():
        return None
    verdict = read_json(folder / layout.VERDICT_FILE)
    if not isinstance(verdict, dict):
        return None
    names = (*layout.MONITORING_FILES, layout.SWEETVIZ_FILE)
    verdict["files"] = {name: str((folder / name).relative_to(repo)) for name in names if (folder / name).is_file()}
    return verdict


def latest_verdict(repo: Path) -> dict[str, Any] | None:
    """The newest window's ``verdict.json`` summary (without per-feature figures), for ``lowops status``."""
    found = [folder for folder in layout.monitoring_windows(repo) if (folder / layout.VERDICT_FILE).is_file()]
    if not found:
        return None
    verdict = read_json(found[-1] / layout.VERDICT_FILE)
    keep = ("window", "version", "drift_that_matters", "model_drift", "model_drift_basis", "prediction_drift",
            "drifted", "evidence", "kpi", "run_id")
    summary = {k: verdict.get(k) for k in keep}
    summary["kpi"] = {k: v for k, v in (verdict.get("kpi") or {}).items() if k != "comparisons"}
    summary["top_features"] = (verdict.get("ranking") or [])[:5]
    return summary
