"""Continuous training: triggers, retraining, the comparison and what follows from it.

``decide`` is the pipeline's stage after scoring and evaluation (and after
monitoring, whose :class:`~lowops.stages.signals.DriftVerdict` it reads when
present). It logs the no-retraining path (``static.*`` metrics of the very
first version), runs the A/B or shadow slots, evaluates the triggers and, when
one fires outside the cool-down, trains a new version on the windows ending
at the latest labelled one, compares it with the live version and those live
at T-1 and T-2 on that window's rows, and acts on the decision: switch
(blue/green, smoke-tested), leave it pending approval, or keep the incumbent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lowops.io import deploy, registry, snapshots
from lowops.io import version_status as vstatus
from lowops.io.files import write_text
from lowops.io.logs import log_metric, read_metrics, read_runs
from lowops.stages import compare, slots
from lowops.stages import metrics as metric_fns
from lowops.stages.context import Context
from lowops.stages.notify import notify
from lowops.stages.promote import gated_switch, mark_pending, smoke_failed
from lowops.stages.smoke import smoke_test
from lowops.windows import Window, window_range


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
        if record.get("command") == "run" and record.get("window") == window.label and record.get("status") == "done":
            for stage in record.get("stages", []):
                if stage.get("name") == "score" and stage.get("outputs", {}).get("version"):
                    return str(stage["outputs"]["version"])
    state = deploy.read_pointer(ctx.repo, ctx.config.model.name)
    version = None
    for entry in (state or {}).get("history", []):
        if entry.get("window") and ctx.window(entry["window"]) < window:
            version = entry.get("to")
    return version


def _windows_between(ctx: Context, earlier: str, later: Window) -> int:
    first = ctx.window(earlier)
    return len(window_range(first, later)) - 1 if first <= later else 0


def cooldown(ctx: Context, window: Window) -> str | None:
    """Why an automatic switch must wait at ``window``, or None."""
    wait = ctx.config.compare.cooldown_windows
    state = deploy.read_pointer(ctx.repo, ctx.config.model.name)
    dated = [h for h in (state or {}).get("history", []) if h.get("window")]
    if not wait or not dated:
        return None
    last = dated[-1]
    since = _windows_between(ctx, last["window"], window)
    if since < wait:
        return (f"cool-down: the last switch ({last.get('from') or '-'} -> {last['to']}) was at window "
                f"{last['window']}, {since} window(s) ago; compare.cooldown_windows is {wait}")
    return None


def _kpi_drift(ctx: Context, window: Window, metrics: dict[str, float], meta: dict[str, Any]) -> Trigger | None:
    cfg, primary = ctx.config.triggers, ctx.config.train.primary_metric
    value = metrics.get(primary)
    if value is None or value != value:
        return None
    sign = -1.0 if primary in metric_fns.LOWER_IS_BETTER else 1.0
    findings = []
    bench = meta["metrics"]["holdout"].get(primary)
    if bench is not None and sign * (bench - value) > cfg.kpi_tolerance_benchmark:
        findings.append(f"{primary} {value:.4f} at {window.label} vs the benchmark {bench:.4f} of "
                        f"{meta['version']} (hold-out {meta['lineage']['holdout_window']}): worse by "
                        f"{abs(bench - value):.4f} > kpi_tolerance_benchmark {cfg.kpi_tolerance_benchmark:g}")
    name = ctx.config.model.name
    recent_labels = {window.prev(1).label, window.prev(2).label}
    latest: dict[str, float] = {}
    for row in read_metrics(ctx.repo):
        if row["metric"] == primary and row["model"] == name and row["window"] in recent_labels:
            latest[row["window"]] = row["value"]
    if latest:
        mean = sum(latest.values()) / len(latest)
        if sign * (mean - value) > cfg.kpi_tolerance_recent:
            findings.append(f"{primary} {value:.4f} at {window.label} vs {mean:.4f} at "
                            f"{', '.join(sorted(latest))}: worse by {abs(mean - value):.4f} > "
                            f"kpi_tolerance_recent {cfg.kpi_tolerance_recent:g}")
    return Trigger("model_drift", "; ".join(findings)) if findings else None


def _last_retrain(ctx: Context) -> str | None:
    for record in reversed(read_runs(ctx.repo)):
        if record.get("command") == "retrain" and record.get("status") == "done":
            return record.get("window")
        for stage in record.get("stages", []):
            if stage.get("name") == "decide" and stage.get("outputs", {}).get("retrained"):
                return record.get("window")
    return None


def _config_change(ctx: Context, meta: dict[str, Any]) -> Trigger | None:
    lineage = meta["lineage"]
    current_hash = ctx.project.section_hash("model", "train", "features", "labels", "entity_key")
    current_sql = {name: sql.sha256 for name, sql in ctx.mart_sql().items()}
    current_sql["labels"] = ctx.label_sql().sha256
    changed = []
    if lineage.get("model_config_hash") != current_hash:
        changed.append(f"config sections model/train/features/labels hash {current_hash[:12]}… differs from "
                       f"{str(lineage.get('model_config_hash'))[:12]}… of the live {meta['version']}")
    for sql_name, digest in sorted(current_sql.items()):
        if lineage.get("sql_sha256", {}).get(sql_name) != digest:
            changed.append(f"SQL '{sql_name}' sha256 {digest[:12]}… differs from the live {meta['version']}'s")
    if not changed:
        return None
    newest = registry.list_versions(ctx.repo, ctx.config.model.name)[-1]
    if newest != meta["version"]:
        newer = registry.read_metadata(ctx.repo, ctx.config.model.name, newest)["lineage"]
        if newer.get("model_config_hash") == current_hash and newer.get("sql_sha256") == current_sql:
            return None  # already trained on this definition and compared; no loop of retrains
    return Trigger("config_change", "; ".join(changed))


def evaluate_triggers(ctx: Context, window: Window, verdict: Any, metrics: dict[str, float],
                      meta: dict[str, Any]) -> list[Trigger]:
    """Every trigger that fires at ``window``, with its evidence."""
    cfg = ctx.config.triggers
    fired: list[Trigger] = []
    if verdict is not None:
        evidence = "; ".join(getattr(verdict, "evidence", ())) or "see monitoring/" + window.label
        if cfg.data_drift and verdict.drift_that_matters:
            fired.append(Trigger("data_drift", f"drift that matters at {window.label}: {evidence}"))
        if cfg.model_drift and verdict.model_drift:
            fired.append(Trigger("model_drift", f"monitoring verdict at {window.label}: {evidence}"))
    elif cfg.model_drift:
        found = _kpi_drift(ctx, window, metrics, meta)
        if found:
            fired.append(found)
    if cfg.every_windows:
        since_label = _last_retrain(ctx) or meta["lineage"]["holdout_window"]
        since = _windows_between(ctx, since_label, window)
        if since >= cfg.every_windows:
            fired.append(Trigger("schedule", f"{since} window(s) since {since_label} "
                                 f"(triggers.every_windows {cfg.every_windows})"))
    if cfg.config_change:
        found = _config_change(ctx, meta)
        if found:
            fired.append(found)
    return fired


def decide(ctx: Context, window: Window, data: Any, scored: Any, outputs: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's ``decide`` stage for one window; returns what goes in the run ledger."""
    name = ctx.config.model.name
    out: dict[str, Any] = {}
    if data.labels is not None:
        out["static"] = slots.static_path(ctx, window, data.features, data.labels, scored)
    if ctx.config.deploy.mode != "single":
        out["slots"] = slots.serve(ctx, window, data.features, data.labels, scored)
    live = deploy.live_version(ctx.repo, name)
    assert live is not None
    meta = registry.read_metadata(ctx.repo, name, live)
    fired = evaluate_triggers(ctx, window, outputs.get("verdict"), outputs.get("metrics") or {}, meta)
    out["triggers"] = [str(t) for t in fired]
    if not fired:
        ctx.log.event("decide", f"no retraining trigger fired at {window.label}; {live} stays live")
        return out
    for trigger in fired:
        ctx.log.event("trigger", f"{trigger.name} fired at {window.label}: {trigger.evidence}")
    for event, kinds in (("drift", ("data_drift",)), ("model_drift", ("model_drift",))):
        hits = [t for t in fired if t.name in kinds]
        if hits:
            notify(ctx, event, f"{event.replace('_', ' ')} at {window.label} ({name} {live})",
                   "\n".join(str(t) for t in hits) + f"\n\nMonitoring: {ctx.repo / 'monitoring' / window.label}\n"
                   f"Metrics: {ctx.repo / 'logs' / 'metrics.log'}", window=window.label)
    waiting = cooldown(ctx, window)
    if waiting:
        ctx.log.event("decide", f"triggers fired but no retraining at {window.label}: {waiting}")
        out["decision"] = waiting
        return out
    holdout = window.prev(ctx.config.windows.label_delay)
    if snapshots.latest(ctx.repo, holdout.label, "labels") is None:
        ctx.log.event("decide", f"triggers fired but {holdout.label} has no labels yet to hold out; "
                      "retraining waits", level="WARN")
        out["decision"] = f"waiting for the labels of {holdout.label}"
        return out
    out.update(retrain(ctx, window, holdout, fired, by="lowops", automatic=True))
    return out


def retrain(ctx: Context, window: Window, holdout: Window, fired: list[Trigger], *, by: str,
            automatic: bool) -> dict[str, Any]:
    """Train a challenger ending at ``holdout``, compare the generations, and act on the decision.

    Returns:
        The new version, the winner, the outcome and where the decision was written.
    """
    from lowops.stages.train import TrainResult, train

    name = ctx.config.model.name
    reasons = "; ".join(str(t) for t in fired)
    mine = registry.version_of_run(ctx.repo, name, ctx.run_id, f"retrain at {window.label}:")
    if mine is not None:
        # This run trained it before it was interrupted: compare that version, don't train a twin.
        ctx.log.event("decide", f"{name} {mine} was registered by this run before it was interrupted; using it")
        result = TrainResult(mine, registry.read_metadata(ctx.repo, name, mine), False)
    else:
        result = train(ctx, holdout, reason=f"retrain at {window.label}: {reasons}", make_live_if_first=False)
    new = result.version
    vstatus.record(ctx.repo, name, new, "candidate", by=by, reason=reasons, window=window.label)
    primary = ctx.config.train.primary_metric
    notify(ctx, "retrained", f"{name} {new} trained at {window.label}",
           "Triggers:\n" + "\n".join(f"  {t}" for t in fired) + f"\n\n{new}: hold-out {holdout.label} "
           f"{primary}={result.metadata['metrics']['holdout'].get(primary, float('nan')):.4f}\n"
           f"Model: {registry.model_dir(ctx.repo, name) / new}", version=new, window=window.label)

    incumbent = deploy.live_version(ctx.repo, name)
    assert incumbent is not None
    roles: dict[str, list[str]] = {new: ["new"]}
    roles.setdefault(incumbent, []).append("live")
    for label, back in (("T-1", window.prev(1)), ("T-2", window.prev(2))):
        version = live_at(ctx, back)
        if version and version in registry.list_versions(ctx.repo, name):
            roles.setdefault(version, []).append(label)
    frame, y = compare.holdout_rows(ctx, holdout.label)
    candidates = compare.evaluate_versions(ctx, roles, frame, y)
    decision = compare.decide(ctx, window.label, holdout.label, incumbent, candidates, y)
    for cand in candidates:
        for metric, value in cand.metrics.items():
            log_metric(ctx.repo, window=holdout.label, model=name, version=cand.version, metric=f"compare.{metric}",
                       value=value, rows=decision.rows, run_id=ctx.run_id)
        if cand.ci is not None and cand.delta is not None:
            for metric, value in (("gain", cand.delta), ("ci_low", cand.ci[0]), ("ci_high", cand.ci[1])):
                log_metric(ctx.repo, window=holdout.label, model=name, version=cand.version,
                           metric=f"compare.{metric}.{primary}", value=value, rows=decision.rows, run_id=ctx.run_id)
    log_metric(ctx.repo, window=holdout.label, model=name, version=decision.winner, metric="decision.switch",
               value=1.0 if decision.change else 0.0, rows=decision.rows, run_id=ctx.run_id)

    outcome = _act(ctx, window, decision, automatic=automatic, by=by)
    if new != decision.winner:
        vstatus.record(ctx.repo, name, new, "lost", by=by, reason=decision.reason, window=window.label)
    text = compare.render(decision, triggers=[str(t) for t in fired], outcome=outcome)
    path = ctx.repo / "monitoring" / window.label / "decision.txt"
    if path.exists():
        path = path.with_name(f"decision-{ctx.run_id}.txt")
    write_text(path, text)
    ctx.log.event("decide", f"{window.label}: winner {decision.winner} (live {incumbent}, new {new}): "
                  f"{outcome}; {decision.reason} -> {path.relative_to(ctx.repo)}")
    return {"retrained": new, "incumbent": incumbent, "winner": decision.winner, "outcome": outcome,
            "reason": decision.reason, "decision_file": str(path.relative_to(ctx.repo)),
            "table": [{"version": c.version, "roles": c.roles, "metrics": c.metrics,
                       "ms_per_1000": round(c.ms_per_1000, 3), "bytes": c.bytes, "gain": c.delta,
                       "ci": list(c.ci) if c.ci else None, "verdict": c.verdict} for c in candidates]}


def _act(ctx: Context, window: Window, decision: compare.Decision, *, automatic: bool, by: str) -> str:
    """Carry out a decision under the cool-down, governance and deploy mode; say what happened."""
    name = ctx.config.model.name
    if not decision.change:
        return f"keep {decision.incumbent}"
    winner = decision.winner
    if automatic:
        waiting = cooldown(ctx, window)
        if waiting:
            return f"keep {decision.incumbent} ({waiting})"
    governance, mode = ctx.config.governance.promote, ctx.config.deploy.mode
    if governance == "manual" or mode != "single":
        report = smoke_test(ctx, winner, window)
        if not report.ok:
            smoke_failed(ctx, winner, report, by=by, action="decide")
            return f"keep {decision.incumbent} ({winner} failed its smoke test: {report.reason})"
        if mode != "single":
            deploy.place(ctx.repo, name, winner, by=by, reason=f"challenger from window {window.label}")
            vstatus.record(ctx.repo, name, winner, "staged", by=by, reason=decision.reason, window=window.label)
            ctx.log.event("deploy", f"{name} {winner} staged in the idle slot for {mode} scoring")
            return f"{winner} staged in the idle slot ({mode}); switch once its slot KPIs prove it"
        mark_pending(ctx, winner, reason=decision.reason, window=window.label)
        return f"{winner} pending approval (governance.promote: manual); {decision.incumbent} stays live"
    switched = gated_switch(ctx, winner, by=by, reason=decision.reason, window=window, action="auto")
    if not switched.switched:
        assert switched.report is not None
        return f"keep {decision.incumbent} ({winner} failed its smoke test: {switched.report.reason})"
    return f"{winner} promoted (blue/green), {decision.incumbent} kept in the other slot"


def retrain_by_hand(ctx: Context, window: Window, *, by: str) -> dict[str, Any]:
    """``lowops retrain --window W``: the manual trigger; W's labels are the hold-out."""
    trigger = Trigger("manual", f"lowops retrain --window {window.label} by {by}")
    ctx.log.event("trigger", f"manual fired at {window.label}: {trigger.evidence}")
    return retrain(ctx, window, window, [trigger], by=by, automatic=False)


def notify_failure(ctx: Context, command: str, window: str | None, error: BaseException) -> None:
    """Tell people a pipeline command failed (never raises: the failure itself is what matters)."""
    try:
        notify(ctx, "pipeline_failed", f"lowops {command} failed" + (f" at window {window}" if window else ""),
               f"{type(error).__name__}: {error}\nExit code: {getattr(error, 'exit_code', 1)}\n"
               f"Run ledger: {ctx.repo / 'runs' / (ctx.run_id + '.json')}\n"
               f"Log: {ctx.repo / 'logs' / 'lowops.log'}", window=window or "-")
    except Exception as exc:  # noqa: BLE001 - a notification must never mask the pipeline's own error
        ctx.log.event("notify", f"could not notify the failure: {type(exc).__name__}: {exc}", level="WARN")
