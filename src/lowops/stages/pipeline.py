"""The loop for one window (extract → train if nothing is live → score → evaluate → log),
and the commands that write: each takes the repository lock once and keeps a run ledger.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lowops import faults
from lowops.errors import IntegrityError, LowopsError, NotTrainedError
from lowops.io import deploy, registry, snapshots
from lowops.io.files import sha256_file
from lowops.io.lock import repository_lock
from lowops.io.logs import Ledger, read_runs
from lowops.stages.context import Context
from lowops.windows import Window, check_not_future, last_complete, parse_window, window_range


@dataclass
class Outcome:
    """What one window's run did, for the CLI to print."""

    window: str
    status: str  # done | empty | skipped
    run_id: str
    outputs: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def locked(ctx: Context, command: str) -> Iterator[None]:
    """Hold the repository lock (waiting as configured) for a writing command."""
    with repository_lock(ctx.repo, wait=ctx.project.lock_wait(), command=command):
        yield


@contextlib.contextmanager
def recorded(ctx: Context, command: str, window: str | None,
             resume: dict[str, Any] | None = None) -> Iterator[Ledger]:
    """A run ledger for one command on one window; failures are recorded, then re-raised.

    ``resume`` is the ledger of an interrupted run: its id is reused, so every
    stage finds what the interrupted attempt already completed under that id.
    """
    if resume is not None:
        ledger = Ledger.resume(ctx.repo, resume)
    else:
        ledger = Ledger.start(ctx.repo, command, window)
    ctx.with_run(ledger.run_id, window)
    if resume is not None:
        ctx.log.event(command, f"resuming interrupted run {ledger.run_id}")
    try:
        yield ledger
    except LowopsError as exc:
        ctx.log.event(command, f"failed: {exc}", level="ERROR")
        ledger.finish("failed", f"{type(exc).__name__}: {exc}")
        _notify_failure(ctx, command, window, exc)
        raise
    except Exception as exc:
        ledger.finish("failed", f"{type(exc).__name__}: {exc}")
        _notify_failure(ctx, command, window, exc)
        raise
    except BaseException as exc:
        # SIGTERM (the CLI turns it into SystemExit) or Ctrl-C: like a kill, the run
        # stays resumable under its own id; ``finally`` blocks have removed temp files.
        ledger.finish("interrupted", f"{type(exc).__name__}: {exc}")
        raise


def _notify_failure(ctx: Context, command: str, window: str | None, exc: BaseException) -> None:
    from lowops.stages.ct import notify_failure

    notify_failure(ctx, command, window, exc)


@contextlib.contextmanager
def stage(ledger: Ledger, name: str) -> Iterator[dict[str, Any]]:
    outputs: dict[str, Any] = {}
    faults.checkpoint(f"before:{name}")
    ledger.stage_start(name)
    yield outputs
    ledger.stage_end(name, **outputs)
    faults.checkpoint(f"after:{name}")


def completed_run(ctx: Context, window: str) -> dict[str, Any] | None:
    """The latest finished ``run`` of a window, if any."""
    done = [r for r in read_runs(ctx.repo)
            if r.get("command") == "run" and r.get("window") == window and r.get("status") in ("done", "empty")]
    return done[-1] if done else None


def interrupted_run(ctx: Context, window: str) -> dict[str, Any] | None:
    """The window's latest ``run`` if it never finished: killed, stopped by a signal, or failed.

    A failed run is continued too, under its own id: the outputs it completed are
    reused rather than written a second time beside a new run's (and its metric
    lines are not logged twice).
    """
    runs = [r for r in read_runs(ctx.repo) if r.get("command") == "run" and r.get("window") == window]
    return runs[-1] if runs and runs[-1].get("status") in ("running", "interrupted", "failed") else None


def load_live(ctx: Context) -> tuple[Any, dict[str, Any], str]:
    """The live model, verified and loaded, with its metadata and slot.

    Raises:
        NotTrainedError: nothing was ever deployed.
        IntegrityError: the pointer names a version the registry does not hold
            (never a silent fallback to another one), or the model fails its checks.
    """
    name = ctx.config.model.name
    state = deploy.read_pointer(ctx.repo, name)
    if state is None:
        raise NotTrainedError(f"No version of model '{name}' is live yet; run `lowops train` first.")
    version = deploy.live_version(ctx.repo, name)
    assert version is not None
    versions = registry.list_versions(ctx.repo, name)
    if version not in versions:
        raise IntegrityError(
            f"{deploy.pointer_path(ctx.repo, name)} names {name} {version} live, but the registry has no complete "
            f"version {version} (versions: {', '.join(versions) or 'none'}); run `lowops verify`, then "
            "`lowops promote VERSION` or restore the version.")
    model, meta = registry.load_model(ctx.repo, name, version,
                                      warn=lambda message: ctx.log.event("load", message, level="WARN"))
    return model, meta, state["live"]


def check_sql(ctx: Context) -> None:
    """Read and check every SQL file before any work: a bad query is a config error (78), not a failed run."""
    ctx.mart_sql()
    ctx.label_sql()


def _run_window(ctx: Context, window: Window, *, force: bool, resume_only: bool = False) -> Outcome:
    from lowops.stages.evaluate import evaluate
    from lowops.stages.extract import extract
    from lowops.stages.score import score
    from lowops.stages.train import train

    prior = completed_run(ctx, window.label)
    if prior is not None and not force:
        ctx.log.event("run", f"window {window.label} already done by run {prior['run_id']}; nothing to do "
                      "(use --force to run it again)")
        return Outcome(window.label, "skipped", prior["run_id"])
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
        live = load_live(ctx) if deploy.read_pointer(ctx.repo, ctx.config.model.name) is not None else None
        with stage(ledger, "extract") as out:
            data = extract(ctx, window, contract=live[1]["schema"] if live else None)
            out.update(features=data.features.version if data.features else None,
                       labels=data.labels.version if data.labels else None)
        if data.features is None:
            ledger.finish("empty")
            return Outcome(window.label, "empty", ledger.run_id)
        if live is None:
            with stage(ledger, "train") as out:
                mine = registry.version_of_run(ctx.repo, ctx.config.model.name, ledger.run_id,
                                               "no live model: first version")
                if mine is not None:
                    # This run registered it, then died before the switch: use it, don't train a twin.
                    deploy.switch(ctx.repo, ctx.config.model.name, mine, by="lowops", reason="first trained version",
                                  window=window.prev(1).label)
                    ctx.log.event("deploy", f"{ctx.config.model.name} {mine} is live (first version, slot blue; "
                                  f"registered by this run before it was interrupted)")
                    out.update(version=mine, live=True)
                else:
                    result = train(ctx, window.prev(1), reason="no live model: first version")
                    out.update(version=result.version, live=result.went_live)
            live = load_live(ctx)
        model, meta, slot = live
        scored_by = ledger.done("score") or {}
        if scored_by.get("version") not in (None, meta["version"]):
            # Resumed after this run's own decision switched versions: the window was
            # scored by the version live before, and the rest of the run goes on with it.
            model, meta = registry.load_model(ctx.repo, ctx.config.model.name, scored_by["version"],
                                              warn=lambda message: ctx.log.event("load", message, level="WARN"))
            slot = scored_by.get("slot", slot)
        with stage(ledger, "score") as out:
            scored = score(ctx, data.features, model, meta, slot=slot, labels=data.labels)
            out.update(predictions=str(scored.path.relative_to(ctx.repo)), rows=scored.rows,
                       version=scored.version, slot=slot, sha256=sha256_file(scored.path),
                       unknown_categories=scored.unknown_categories, unknown_rate=scored.unknown_rate,
                       missing_values=scored.missing_values, non_finite_values=scored.non_finite_values,
                       rejected=scored.rejected)
        outputs: dict[str, Any] = {"predictions": str(scored.path), "rows": scored.rows, "version": scored.version}
        if data.labels is not None:
            with stage(ledger, "evaluate") as out:
                values = evaluate(ctx, window.label, scored.version, scored.keys, scored.scores, data.labels, meta)
                out.update(metrics=values)
                outputs["metrics"] = values
        with stage(ledger, "monitor") as out:
            from lowops.stages.monitor import ledger_summary, monitor

            verdict = monitor(ctx, window, features=data.features, model=model, meta=meta, scores=scored.scores,
                              labels=data.labels, realised=outputs.get("metrics"))
            out.update(ledger_summary(verdict))
            outputs["verdict"] = verdict
        decided = ledger.done("decide")
        if decided is not None:
            # Resumed after its decision was carried out: deciding again would judge the
            # version this very run switched to, and maybe retrain; the ledger has the answer.
            outputs["decision"] = decided.get("outcome") or decided.get("decision")
        else:
            with stage(ledger, "decide") as out:
                from lowops.stages.ct import decide

                out.update(decide(ctx, window, data, scored, outputs))
                outputs["decision"] = out.get("outcome") or out.get("decision")
        ledger.finish("done")
        return Outcome(window.label, "done", ledger.run_id, outputs)


def run(ctx: Context, window: Window, *, force: bool = False, resume: bool = False) -> Outcome:
    """Run the whole loop for one window (a finished window is a no-op unless ``force``).

    Raises:
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops run --window {window.label}"):
        return _run_window(ctx, window, force=force, resume_only=resume)


def catch_up(ctx: Context, *, force: bool = False, max_windows: int = 1000) -> list[Outcome]:
    """Run every complete window after the last one done, oldest first (cron's default).

    With no window done yet, only the last complete window runs: a new project
    does not backfill history by itself (``lowops backfill`` does that).
    """
    windows_cfg = ctx.config.windows
    newest = last_complete(windows_cfg.frequency, tz=windows_cfg.timezone)
    done = [r["window"] for r in read_runs(ctx.repo)
            if r.get("command") == "run" and r.get("status") in ("done", "empty") and r.get("window")]
    first = newest
    if done:
        parsed = sorted(parse_window(w, windows_cfg.frequency, tz=windows_cfg.timezone) for w in set(done))
        if parsed[-1] < newest:
            first = parsed[-1].next()
    todo = window_range(first, newest)[-max_windows:]
    outcomes = []
    check_sql(ctx)
    with locked(ctx, "lowops run"):
        for window in todo:
            outcomes.append(_run_window(ctx, window, force=force))
    return outcomes


def backfill(ctx: Context, first: Window, last: Window, *, force: bool = False) -> list[Outcome]:
    """Run the loop for each window from ``first`` to ``last`` in order, stopping at the first failure."""
    windows = window_range(first, last)
    check_not_future(last)
    check_sql(ctx)
    outcomes = []
    with locked(ctx, f"lowops backfill --from {first.label} --to {last.label}"):
        for window in windows:
            outcomes.append(_run_window(ctx, window, force=force))
    return outcomes


def extract_only(ctx: Context, window: Window, *, full_labels: bool = True) -> dict[str, Any]:
    """``lowops extract``: snapshot a window's features and labels."""
    from lowops.stages.extract import extract

    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops extract --window {window.label}"), recorded(ctx, "extract", window.label) as ledger:
        with stage(ledger, "extract") as out:
            data = extract(ctx, window, labels=full_labels)
            out.update(features=data.features.version if data.features else None,
                       labels=data.labels.version if data.labels else None)
        ledger.finish("done" if data.features else "empty")
        return {"window": window.label, "features": data.features, "labels": data.labels,
                "run_id": ledger.run_id}


def train_only(ctx: Context, window: Window, *, full: bool = False) -> dict[str, Any]:
    """``lowops train``: a new version on the windows ending at ``window``."""
    from lowops.stages.train import train

    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops train --window {window.label}"), recorded(ctx, "train", window.label) as ledger:
        with stage(ledger, "train") as out:
            result = train(ctx, window, full=full, reason="lowops train")
            out.update(version=result.version, live=result.went_live)
        ledger.finish("done")
        return {"version": result.version, "live": result.went_live, "metadata": result.metadata,
                "run_id": ledger.run_id}


def score_only(ctx: Context, window: Window) -> dict[str, Any]:
    """``lowops score``: the live model scores a window (extracting it if not yet snapshotted)."""
    from lowops.stages.score import extract_and_score, score

    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops score --window {window.label}"), recorded(ctx, "score", window.label) as ledger:
        # Verify and load the model before touching any data: a tampered model stops here.
        model, meta, slot = load_live(ctx)
        features = snapshots.latest(ctx.repo, window.label, "features")
        labels = snapshots.latest(ctx.repo, window.label, "labels")
        if features is None:
            # Not extracted yet: one pass, each chunk scored as it is staged (the ledger
            # shows the two stages running together).
            with stage(ledger, "extract") as extracted, stage(ledger, "score") as out:
                features, scored = extract_and_score(ctx, window, model, meta, slot=slot, labels=labels,
                                                     keep_scores=False)
                extracted.update(features=features.version if features else None)
                if scored is not None:
                    out.update(predictions=str(scored.path.relative_to(ctx.repo)), rows=scored.rows,
                               version=scored.version)
            if features is None:
                ctx.log.event("extract", f"{window.label} is empty: no feature rows (status=empty)")
                ledger.finish("empty")
                return {"window": window.label, "status": "empty", "run_id": ledger.run_id}
        else:
            with stage(ledger, "score") as out:
                scored = score(ctx, features, model, meta, slot=slot, labels=labels, keep_scores=False)
                out.update(predictions=str(scored.path.relative_to(ctx.repo)), rows=scored.rows,
                           version=scored.version)
        assert scored is not None
        ledger.finish("done")
        return {"window": window.label, "status": "done", "predictions": str(scored.path),
                "rows": scored.rows, "version": scored.version, "run_id": ledger.run_id}
