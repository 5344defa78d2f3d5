"""Triggers: the reasons to retrain at a window, each with its evidence, and the cool-down.

A trigger fires on the monitoring verdict (drift that matters, model drift,
model drift that late labels of an earlier window showed),
on the primary KPI against T-1, T-2 and the benchmark when monitoring is off,
every N windows, or on a change of the configuration or a feature SQL file
that defines the live model. The cool-down keeps an automatic switch from
following another too soon.
"""

from __future__ import annotations

from dataclasses import dataclass

from lowops.context import Context
from lowops.io import deploy, layout, registry
from lowops.io.logs import read_metrics
from lowops.io.runs import read_runs
from lowops.model import metrics as metric_fns
from lowops.model.card import ModelCard
from lowops.monitoring.verdict import DriftVerdict
from lowops.windows import Window, window_range

# What defines a model: a change of these config sections (or of a feature SQL file) retrains.
MODEL_SECTIONS = ("model", "train", "features", "labels", "entity_key")


@dataclass(frozen=True)
class Trigger:
    """One reason to retrain, with its evidence."""

    name: str  # model_drift | data_drift | schedule | config_change | manual
    evidence: str

    def __str__(self) -> str:
        return f"{self.name}: {self.evidence}"


def live_at(ctx: Context, window: Window) -> str | None:
    """The version that scored ``window`` (its latest completed run), else the deploy history's."""
    for record in reversed(read_runs(ctx.repo)):
        if record.command == "run" and record.window == window.label and record.status == "done":
            for stage in record.stages:
                if stage.name == "score" and stage.outputs.get("version"):
                    return str(stage.outputs["version"])
    state = deploy.read_pointer(ctx.repo, ctx.name)
    version = None
    for entry in (state or {}).get("history", []):
        if entry.get("window") and ctx.window(entry["window"]) < window:
            version = entry.get("to")
    return version


def windows_between(ctx: Context, earlier: str, later: Window) -> int:
    first = ctx.window(earlier)
    return len(window_range(first, later)) - 1 if first <= later else 0


def cooldown(ctx: Context, window: Window) -> str | None:
    """Why an automatic switch must wait at ``window``, or None.

    The distance counts both ways: a window re-run after a later window's switch
    (a backfill, ``--force``) is as close to that switch as one after it.
    """
    wait = ctx.config.compare.cooldown_windows
    state = deploy.read_pointer(ctx.repo, ctx.name)
    dated = [h for h in (state or {}).get("history", []) if h.get("window")]
    if not wait or not dated:
        return None
    last = dated[-1]
    switched = ctx.window(last["window"])
    if switched <= window:
        distance = windows_between(ctx, last["window"], window)
        where = f"{distance} window(s) ago"
    else:
        distance = len(window_range(window, switched)) - 1
        where = f"{distance} window(s) after {window.label}"
    if distance < wait:
        return (f"cool-down: the last switch ({last.get('from') or '-'} -> {last['to']}) was at window "
                f"{last['window']}, {where}; compare.cooldown_windows is {wait}")
    return None


def kpi_tolerance(metric: str, tolerance: float, reference: float) -> tuple[float, str]:
    """A ``kpi_tolerance_*`` in the KPI's units, and how it reads.

    For a metric in the target's own units (RMSE, MAE) the setting is a share of
    the compared KPI (0.03: 3% worse), since a fixed number means nothing across
    targets; for the others (ROC AUC, R², MAPE…) it is the drop itself.
    """
    if metric in metric_fns.TARGET_SCALE:
        return tolerance * abs(reference), f"{tolerance:.1%} of {reference:.4f}"
    return tolerance, f"{tolerance:g}"


def _kpi_drift(ctx: Context, window: Window, metrics: dict[str, float], card: ModelCard) -> Trigger | None:
    cfg, primary = ctx.config.triggers, ctx.config.train.primary_metric
    value = metrics.get(primary)
    if value is None or value != value:
        return None
    sign = -1.0 if primary in metric_fns.LOWER_IS_BETTER else 1.0  # sign * (reference - value) > 0: worse
    findings = []
    bench = card.metrics.holdout.get(primary)
    limit, said = kpi_tolerance(primary, cfg.kpi_tolerance_benchmark, bench or 0.0)
    if bench is not None and sign * (bench - value) > limit:
        findings.append(f"{primary} {value:.4f} at {window.label} vs the benchmark {bench:.4f} of "
                        f"{card.version} (hold-out {card.lineage.holdout_window}): worse by "
                        f"{abs(bench - value):.4f} > kpi_tolerance_benchmark {said}")
    recent_labels = {window.prev(1).label, window.prev(2).label}
    latest: dict[str, float] = {}
    for row in read_metrics(ctx.repo):
        if row["metric"] == primary and row["model"] == ctx.name and row["window"] in recent_labels:
            latest[row["window"]] = row["value"]
    if latest:
        mean = sum(latest.values()) / len(latest)
        limit, said = kpi_tolerance(primary, cfg.kpi_tolerance_recent, mean)
        if sign * (mean - value) > limit:
            findings.append(f"{primary} {value:.4f} at {window.label} vs {mean:.4f} at "
                            f"{', '.join(sorted(latest))}: worse by {abs(mean - value):.4f} > "
                            f"kpi_tolerance_recent {said}")
    return Trigger("model_drift", "; ".join(findings)) if findings else None


def _last_retrain(ctx: Context) -> str | None:
    for record in reversed(read_runs(ctx.repo)):
        if record.command == "retrain" and record.status == "done":
            return record.window
        for stage in record.stages:
            if stage.name == "decide" and stage.outputs.get("retrained"):
                return record.window
    return None


def _config_change(ctx: Context, card: ModelCard) -> Trigger | None:
    lineage = card.lineage
    current_hash = ctx.project.section_hash(*MODEL_SECTIONS)
    current_sql = {name: sql.sha256 for name, sql in ctx.mart_sql().items()}
    current_sql["labels"] = ctx.label_sql().sha256
    changed = []
    if lineage.model_config_hash != current_hash:
        changed.append(f"config sections model/train/features/labels hash {current_hash[:12]}… differs from "
                       f"{lineage.model_config_hash[:12]}… of the live {card.version}")
    for sql_name, digest in sorted(current_sql.items()):
        if lineage.sql_sha256.get(sql_name) != digest:
            changed.append(f"SQL '{sql_name}' sha256 {digest[:12]}… differs from the live {card.version}'s")
    if not changed:
        return None
    newest = registry.list_versions(ctx.repo, ctx.name)[-1]
    if newest != card.version:
        newer = ctx.card(newest).lineage
        if newer.model_config_hash == current_hash and newer.sql_sha256 == current_sql:
            return None  # already trained on this definition and compared; no loop of retrains
    return Trigger("config_change", "; ".join(changed))


def evaluate_triggers(ctx: Context, window: Window, verdict: DriftVerdict | None, metrics: dict[str, float],
                      card: ModelCard) -> list[Trigger]:
    """Every trigger that fires at ``window``, with its evidence."""
    cfg = ctx.config.triggers
    fired: list[Trigger] = []
    if verdict is not None:
        evidence = "; ".join(verdict.evidence) or \
            f"see {layout.monitoring_dir(ctx.repo, window.label).relative_to(ctx.repo)}"
        if cfg.data_drift and verdict.drift_that_matters:
            fired.append(Trigger("data_drift", f"drift that matters at {window.label}: {evidence}"))
        said = ([f"monitoring verdict at {window.label}: {evidence}"] if verdict.model_drift else []) \
            + list(verdict.late_model_drift)  # late labels of earlier windows, judged at this one
        if cfg.model_drift and said:
            fired.append(Trigger("model_drift", "; ".join(said)))
    elif cfg.model_drift:
        found = _kpi_drift(ctx, window, metrics, card)
        if found:
            fired.append(found)
    if cfg.every_windows:
        since_label = _last_retrain(ctx) or card.lineage.holdout_window
        since = windows_between(ctx, since_label, window)
        if since >= cfg.every_windows:
            fired.append(Trigger("schedule", f"{since} window(s) since {since_label} "
                                 f"(triggers.every_windows {cfg.every_windows})"))
    if cfg.config_change:
        found = _config_change(ctx, card)
        if found:
            fired.append(found)
    return fired
