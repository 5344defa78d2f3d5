"""``lowops run`` and ``lowops backfill``: the whole loop, one window at a time.

extract → train (if nothing is live) → score → evaluate (once labels exist) →
monitor → decide (retrain, compare, promote). The repository lock is taken once
for all the windows of a command; each window is one run with its own ledger,
and a run killed half-way is continued under its own id by the next one.
A window that wants a Sweetviz report gets it from a background process
started once its run is finished (:mod:`lowops.commands._background`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lowops.commands import _background
from lowops.commands._run import check_sql, locked, recorded, stage
from lowops.context import Context
from lowops.io import deploy, registry
from lowops.io.files import sha256_file
from lowops.io.ledger import Ledger
from lowops.io.runs import RunRecord, read_runs
from lowops.lifecycle.retrain import decide
from lowops.model.card import ModelCard
from lowops.stages.evaluate import evaluate
from lowops.stages.extract import Extracted, extract
from lowops.stages.monitor import monitor
from lowops.stages.score import ScoreResult, score
from lowops.stages.train import train
from lowops.windows import Window, check_not_future, last_complete, window_range


@dataclass
class Outcome:
    """What one window's run did, for the CLI to print."""

    window: str
    status: str  # done | empty | skipped
    run_id: str
    outputs: dict[str, Any] = field(default_factory=dict)


def completed_run(ctx: Context, window: str) -> RunRecord | None:
    """The latest ``run`` of a window that scored it, if any.

    A window found empty is not done: its data may arrive late (an ETL behind), so the
    next run tries it again.
    """
    done = [r for r in read_runs(ctx.repo) if r.command == "run" and r.window == window and r.status == "done"]
    return done[-1] if done else None


def interrupted_run(ctx: Context, window: str) -> RunRecord | None:
    """The window's latest ``run`` if it never finished: killed, stopped by a signal, or failed.

    A failed run is continued too, under its own id: the outputs it completed are
    reused rather than written a second time beside a new run's (and its metric
    lines are not logged twice).
    """
    runs = [r for r in read_runs(ctx.repo) if r.command == "run" and r.window == window]
    return runs[-1] if runs and not runs[-1].finished else None


def _first_version(ctx: Context, ledger: Ledger, window: Window) -> tuple[Any, ModelCard, str]:
    """Nothing is live yet: train the first version on the windows before this one, and make it live."""
    with stage(ledger, "train") as out:
        mine = registry.version_of_run(ctx.repo, ctx.name, ledger.run_id, "no live model: first version")
        if mine is not None:
            # This run registered it, then died before the switch: use it, don't train a twin.
            deploy.switch(ctx.repo, ctx.name, mine, by="lowops", reason="first trained version",
                          window=window.prev(1).label)
            ctx.log.event("deploy", f"{ctx.name} {mine} is live (first version, slot blue; "
                          f"registered by this run before it was interrupted)")
            out.update(version=mine, live=True)
        else:
            result = train(ctx, window.prev(1), reason="no live model: first version")
            out.update(version=result.version, live=result.went_live)
    return ctx.load_live()


def _score(ctx: Context, ledger: Ledger, data: Extracted, live: tuple[Any, ModelCard, str]
           ) -> tuple[Any, ModelCard, ScoreResult]:
    model, card, slot = live
    scored_by = ledger.done("score") or {}
    if scored_by.get("version") not in (None, card.version):
        # Resumed after this run's own decision switched versions: the window was
        # scored by the version live before, and the rest of the run goes on with it.
        model, card = ctx.load_model(scored_by["version"])
        slot = scored_by.get("slot", slot)
    assert data.features is not None
    with stage(ledger, "score") as out:
        scored = score(ctx, data.features, model, card, slot=slot, labels=data.labels)
        out.update(scored.ledger(ctx.repo), slot=slot, sha256=sha256_file(scored.path),
                   unknown_categories=scored.unknown_categories, unknown_rate=scored.unknown_rate,
                   missing_values=scored.missing_values, non_finite_values=scored.non_finite_values,
                   rejected=scored.rejected)
    return model, card, scored


def _monitor_and_decide(ctx: Context, ledger: Ledger, window: Window, data: Extracted, model: Any,
                        card: ModelCard, scored: ScoreResult, outputs: dict[str, Any]) -> None:
    assert data.features is not None
    if data.labels is not None:
        with stage(ledger, "evaluate") as out:
            values = evaluate(ctx, window.label, scored.version, scored.keys, scored.scores, data.labels, card)
            out.update(metrics=values)
            outputs["metrics"] = values
    with stage(ledger, "monitor") as out:
        verdict = monitor(ctx, window, features=data.features, model=model, card=card, scores=scored.scores,
                          labels=data.labels, realised=outputs.get("metrics"))
        out.update(verdict.ledger())
        outputs["verdict"] = verdict
    decided = ledger.done("decide")
    if decided is not None:
        # Resumed after its decision was carried out: deciding again would judge the
        # version this very run switched to, and maybe retrain; the ledger has the answer.
        outputs["decision"] = decided.get("outcome") or decided.get("decision")
        return
    with stage(ledger, "decide") as out:
        out.update(decide(ctx, window, data, scored, verdict, outputs.get("metrics") or {}))
        outputs["decision"] = out.get("outcome") or out.get("decision")


def _run_window(ctx: Context, window: Window, *, force: bool, resume_only: bool = False) -> Outcome:
    ctx.progress.window(window.label)
    prior = completed_run(ctx, window.label)
    if prior is not None and not force:
        ctx.log.event("run", f"window {window.label} already done by run {prior.run_id}; nothing to do "
                      "(use --force to run it again)")
        return Outcome(window.label, "skipped", prior.run_id)
    # A run killed half-way (power cut, SIGKILL) is continued under its own id:
    # every stage is idempotent for a given run id, so nothing is done twice.
    interrupted = interrupted_run(ctx, window.label) if not force else None
    if resume_only and interrupted is None:
        ctx.log.event("run", f"window {window.label}: no interrupted run to resume")
        return Outcome(window.label, "skipped", "-")
    with recorded(ctx, "run", window.label, resume=interrupted) as ledger:
        # Verify and load the live model before touching any data: a tampered or
        # incompatible model stops the run here, and the extract is checked against
        # its schema contract before the snapshot is committed, so bad data leaves
        # no data version behind.
        live = ctx.load_live() if deploy.read_pointer(ctx.repo, ctx.name) is not None else None
        with stage(ledger, "extract") as out:
            data = extract(ctx, window, contract=live[1].schema if live else None)
            out.update(features=data.features.version if data.features else None,
                       labels=data.labels.version if data.labels else None)
        if data.features is None:
            ledger.finish("empty")
            return Outcome(window.label, "empty", ledger.run_id)
        if live is None:
            live = _first_version(ctx, ledger, window)
        model, card, scored = _score(ctx, ledger, data, live)
        outputs: dict[str, Any] = {"predictions": str(scored.path), "rows": scored.rows, "version": scored.version}
        _monitor_and_decide(ctx, ledger, window, data, model, card, scored, outputs)
        ledger.finish("done")
        # The window's results are committed: only now may a report begin, and never hold them up.
        _background.start_report(ctx, outputs["verdict"])
        return Outcome(window.label, "done", ledger.run_id, outputs)


def run(ctx: Context, window: Window, *, force: bool = False, resume: bool = False) -> Outcome:
    """Run the whole loop for one window (a finished window is a no-op unless ``force``).

    Raises:
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    check_sql(ctx)
    ctx.progress.windows([window.label])
    try:
        with locked(ctx, f"lowops run --window {window.label}"):
            return _run_window(ctx, window, force=force, resume_only=resume)
    finally:
        _background.finish()


def catch_up(ctx: Context, *, force: bool = False, max_windows: int = 1000) -> list[Outcome]:
    """Run every complete window not done yet, oldest first (cron's default).

    From the first window a run ever tried to the last complete one: a window
    missed in between (a failed night, a run by hand of a later window) is caught
    up in order, and a window found empty is tried again. With no run yet, only
    the last complete window runs: a new project does not backfill history by
    itself (``lowops backfill`` does that).
    """
    windows_cfg = ctx.config.windows
    newest = last_complete(windows_cfg.frequency, tz=windows_cfg.timezone)
    runs = [r for r in read_runs(ctx.repo) if r.command == "run" and r.window]
    done = {r.window for r in runs if r.status == "done"}
    tried = sorted(ctx.window(str(r.window)) for r in runs)
    first = tried[0] if tried and tried[0] <= newest else newest
    todo = [w for w in window_range(first, newest) if w.label not in done][-max_windows:]
    outcomes = []
    check_sql(ctx)
    ctx.progress.windows([w.label for w in todo])
    try:
        with locked(ctx, "lowops run"):
            for window in todo:
                outcomes.append(_run_window(ctx, window, force=force))
    finally:
        _background.finish()
    return outcomes


def backfill(ctx: Context, first: Window, last: Window, *, force: bool = False) -> list[Outcome]:
    """Run the loop for each window from ``first`` to ``last`` in order, stopping at the first failure."""
    windows = window_range(first, last)
    check_not_future(last)
    check_sql(ctx)
    outcomes = []
    ctx.progress.windows([w.label for w in windows])
    try:
        with locked(ctx, f"lowops backfill --from {first.label} --to {last.label}"):
            for window in windows:
                outcomes.append(_run_window(ctx, window, force=force))
    finally:
        _background.finish()
    return outcomes
