"""Continuous training: what follows a window's verdict, and a retrain with its comparison.

:func:`decide` is the pipeline's stage after scoring, evaluation and monitoring
(whose :class:`~lowops.monitoring.verdict.DriftVerdict` it reads). It logs the
no-retraining path (``static.*`` metrics of the very first version), runs the
A/B or shadow slots, evaluates the triggers and, when one fires outside the
cool-down, trains a new version on the windows ending at the latest labelled
one, compares it with the live version and those live at T-1 and T-2 on that
window's rows, and acts on the decision: switch (blue/green, smoke-tested),
leave it pending approval, or keep the incumbent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lowops.context import Context
from lowops.io import deploy, layout, registry
from lowops.io import version_status as vstatus
from lowops.io.files import write_text
from lowops.lifecycle import alerts, compare, slots
from lowops.lifecycle.notify import notify
from lowops.lifecycle.promote import gated_switch, mark_pending, smoke_failed
from lowops.lifecycle.smoke import smoke_test
from lowops.lifecycle.triggers import Trigger, cooldown, evaluate_triggers, live_at
from lowops.monitoring.verdict import DriftVerdict
from lowops.stages.extract import Extracted, current
from lowops.stages.score import ScoreResult
from lowops.stages.train import TrainResult, train
from lowops.windows import Window


def decide(ctx: Context, window: Window, data: Extracted, scored: ScoreResult, verdict: DriftVerdict | None,
           metrics: dict[str, float]) -> dict[str, Any]:
    """The pipeline's ``decide`` stage for one window; returns what goes in the run ledger."""
    out: dict[str, Any] = {}
    assert data.features is not None
    if data.labels is not None:
        out["static"] = slots.static_path(ctx, window, data.features, data.labels, scored)
    if ctx.config.deploy.mode != "single":
        out["slots"] = slots.serve(ctx, window, data.features, data.labels, scored)
    live = deploy.live_version(ctx.repo, ctx.name)
    assert live is not None
    fired = evaluate_triggers(ctx, window, verdict, metrics, ctx.card(live))
    out["triggers"] = [str(t) for t in fired]
    alerts.alert(ctx, window, live, verdict, fired)
    if not fired:
        ctx.log.event("decide", f"no retraining trigger fired at {window.label}; {live} stays live")
        return out
    for trigger in fired:
        ctx.log.event("trigger", f"{trigger.name} fired at {window.label}: {trigger.evidence}")
    waiting = cooldown(ctx, window)
    if waiting:
        ctx.log.event("decide", f"triggers fired but no retraining at {window.label}: {waiting}")
        out["decision"] = waiting
        return out
    holdout = window.prev(ctx.config.windows.label_delay)
    if current(ctx, holdout, "labels") is None:
        ctx.log.event("decide", f"triggers fired but {holdout.label} has no labels yet to hold out; "
                      "retraining waits", level="WARN")
        out["decision"] = f"waiting for the labels of {holdout.label}"
        return out
    out.update(retrain(ctx, window, holdout, fired, by="lowops", automatic=True))
    return out


def _challenger(ctx: Context, window: Window, holdout: Window, fired: list[Trigger], by: str) -> TrainResult:
    """The new version: trained now, or the one this very run registered before it was interrupted."""
    reasons = "; ".join(str(t) for t in fired)
    mine = registry.version_of_run(ctx.repo, ctx.name, ctx.run_id, f"retrain at {window.label}:")
    if mine is not None:
        # This run trained it before it was interrupted: compare that version, don't train a twin.
        ctx.log.event("decide", f"{ctx.name} {mine} was registered by this run before it was interrupted; using it")
        result = TrainResult(mine, ctx.card(mine), False)
    else:
        result = train(ctx, holdout, reason=f"retrain at {window.label}: {reasons}", make_live_if_first=False)
    new = result.version
    vstatus.record(ctx.repo, ctx.name, new, "candidate", by=by, reason=reasons, window=window.label)
    primary = ctx.config.train.primary_metric
    notify(ctx, "retrained", f"{ctx.name} {new} trained at {window.label}",
           "Triggers:\n" + "\n".join(f"  {t}" for t in fired) + f"\n\n{new}: hold-out {holdout.label} "
           f"{primary}={result.card.metrics.holdout.get(primary, float('nan')):.4f}\n"
           f"Model: {layout.version_dir(ctx.repo, ctx.name, new)}", version=new, window=window.label)
    return result


def _roles(ctx: Context, window: Window, new: str, incumbent: str) -> dict[str, list[str]]:
    """Each version in the comparison with its roles: new, live, T-1, T-2."""
    roles: dict[str, list[str]] = {new: ["new"]}
    roles.setdefault(incumbent, []).append("live")
    for label, back in (("T-1", window.prev(1)), ("T-2", window.prev(2))):
        version = live_at(ctx, back)
        if version and version in registry.list_versions(ctx.repo, ctx.name):
            roles.setdefault(version, []).append(label)
    return roles


def _log_comparison(ctx: Context, holdout: Window, decision: compare.Decision) -> None:
    primary = ctx.config.train.primary_metric
    for cand in decision.candidates:
        for metric, value in cand.metrics.items():
            ctx.metrics.log(holdout.label, cand.version, f"compare.{metric}", value, decision.rows)
        if cand.ci is not None and cand.delta is not None:
            for metric, value in (("gain", cand.delta), ("ci_low", cand.ci[0]), ("ci_high", cand.ci[1])):
                ctx.metrics.log(holdout.label, cand.version, f"compare.{metric}.{primary}", value, decision.rows)
    ctx.metrics.log(holdout.label, decision.winner, "decision.switch", 1.0 if decision.change else 0.0,
                    decision.rows)


def retrain(ctx: Context, window: Window, holdout: Window, fired: list[Trigger], *, by: str,
            automatic: bool) -> dict[str, Any]:
    """Train a challenger ending at ``holdout``, compare the generations, and act on the decision.

    Returns:
        The new version, the winner, the outcome and where the decision was written.
    """
    ctx.progress.stage("retrain: training")
    new = _challenger(ctx, window, holdout, fired, by).version
    incumbent = deploy.live_version(ctx.repo, ctx.name)
    assert incumbent is not None
    ctx.progress.stage("retrain: comparing")
    frame, y = compare.holdout_rows(ctx, holdout.label)
    roles = _roles(ctx, window, new, incumbent)
    loaded = {version: ctx.load_model(version) for version in roles}  # verified before anything is read
    rows = compare.unseen_rows(ctx, holdout.label, {v: card for v, (_, card) in loaded.items()}, roles, frame, y,
                               new=new, incumbent=incumbent)
    candidates = compare.evaluate_versions(ctx, rows.roles, rows.frame, rows.y, loaded)
    decision = compare.decide(ctx, window.label, holdout.label, incumbent, candidates, rows.y)
    decision.excluded.extend(rows.excluded)
    _log_comparison(ctx, holdout, decision)
    path = layout.decision_file(ctx.repo, window.label, ctx.run_id)
    outcome = _act(ctx, window, decision, path, automatic=automatic, by=by)
    if new != decision.winner:
        vstatus.record(ctx.repo, ctx.name, new, "lost", by=by, reason=decision.reason, window=window.label)
    write_text(path, compare.render(decision, triggers=[str(t) for t in fired], outcome=outcome))
    ctx.log.event("decide", f"{window.label}: winner {decision.winner} (live {incumbent}, new {new}): "
                  f"{outcome}; {decision.reason} -> {path.relative_to(ctx.repo)}")
    return {"retrained": new, "incumbent": incumbent, "winner": decision.winner, "outcome": outcome,
            "reason": decision.reason, "decision_file": str(path.relative_to(ctx.repo)),
            "table": [{"version": c.version, "roles": c.roles, "metrics": c.metrics,
                       "ms_per_1000": round(c.ms_per_1000, 3), "bytes": c.bytes, "gain": c.delta,
                       "ci": list(c.ci) if c.ci else None, "verdict": c.verdict} for c in candidates]}


def _act(ctx: Context, window: Window, decision: compare.Decision, decision_path: Path, *, automatic: bool,
         by: str) -> str:
    """Carry out a decision under the cool-down, governance and deploy mode; say what happened."""
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
            deploy.place(ctx.repo, ctx.name, winner, by=by, reason=f"challenger from window {window.label}")
            vstatus.record(ctx.repo, ctx.name, winner, "staged", by=by, reason=decision.reason, window=window.label)
            ctx.log.event("deploy", f"{ctx.name} {winner} staged in the idle slot for {mode} scoring")
            return f"{winner} staged in the idle slot ({mode}); switch once its slot KPIs prove it"
        mark_pending(ctx, winner, reason=decision.reason, window=window.label, decision=decision_path)
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
