"""``lowops gc``: remove old windows and versions, under the lock, logged and audited.

The plan (``lifecycle.retention``) is recorded in the run ledger before
anything is removed, so ``lowops verify`` knows which recorded files went on
purpose. Each removal is one rename into the run's trash (``io.removal``);
for a version with tags or a description, one atomic rewrite of the model's
labels file without them; then one event-log line, and for a version one
audit line; the trash is deleted last, and a summary audit line closes the run. An
interrupted gc is finished by the next: its trash is deleted, the labels of a
version it removed are dropped, and a version it removed without auditing is
audited then.
"""

from __future__ import annotations

from typing import Any

from lowops import faults, secrets
from lowops.commands._run import locked, recorded, stage
from lowops.context import Context
from lowops.io import audit, layout, registry, removal, version_labels
from lowops.io.runs import read_runs
from lowops.lifecycle import retention
from lowops.lifecycle.promote import who


def plan(ctx: Context, *, keep_windows: int | None, keep_versions: int | None) -> retention.Plan:
    """What a gc would remove now (reads only)."""
    return retention.plan(ctx.repo, ctx.config, [ctx.name], read_runs(ctx.repo),
                          keep_windows=keep_windows, keep_versions=keep_versions)


def gc(ctx: Context, *, keep_windows: int | None = None, keep_versions: int | None = None,
       dry_run: bool = False, by: str | None = None) -> dict[str, Any]:
    """Remove the windows and versions beyond the newest N that nothing protects (see ``lifecycle.retention``).

    With ``dry_run`` nothing is written, not even the lock file or a run ledger.

    Returns:
        The plan (``lines``: the plan and its outcome in words), ``dry_run``, and the run id (None in a dry run).

    Raises:
        LockHeldError: another command holds the repository.
        IntegrityError: a kept version's card cannot be read, or a path to remove is a symbolic link.
    """
    if dry_run:
        found = plan(ctx, keep_windows=keep_windows, keep_versions=keep_versions)
        return _result(found, None)
    person = who(by)
    with locked(ctx, "lowops gc"), recorded(ctx, "gc", None) as ledger:
        with stage(ledger, "finish") as out:
            out.update(audited=_finish_interrupted(ctx, person))
        with stage(ledger, "plan") as out:
            found = plan(ctx, keep_windows=keep_windows, keep_versions=keep_versions)
            out.update(found.to_dict())
        with stage(ledger, "remove") as out:
            _remove(ctx, found, ledger.run_id, person)
            out.update(versions=len(found.versions), windows=len(found.windows), bytes=found.bytes)
        ledger.finish("done")
    return _result(found, ledger.run_id)


def _result(found: retention.Plan, run_id: str | None) -> dict[str, Any]:
    count = f"{len(found.versions)} version(s) and {len(found.windows)} window(s) ({retention.human(found.bytes)})"
    summary = (f"dry run: would remove {count}; nothing was changed" if run_id is None
               else f"removed {count} (run {run_id})")
    return {**found.to_dict(), "lines": [*found.lines(), summary], "dry_run": run_id is None, "run_id": run_id}


def _finish_interrupted(ctx: Context, by: str) -> list[str]:
    """Delete the trash an interrupted gc left, drop the labels of the versions it removed, audit them."""
    for leftover in layout.trash_dirs(ctx.repo):
        removal.delete(leftover)
        ctx.log.event("gc", f"deleted {leftover.name}, left by an interrupted gc")
    held = {name: registry.list_versions(ctx.repo, name) for name in registry.model_names(ctx.repo)}
    runs = read_runs(ctx.repo)
    dropped: dict[tuple[str, str], dict[str, Any]] = {}
    for model, version, run_id, _ in retention.interrupted(runs, held):
        said = version_labels.forget(ctx.repo, model, [version]).get(version)
        if said:
            dropped[(model, version)] = said
            ctx.log.event("gc", f"dropped the {retention.in_words(said)} of {model} {version} from "
                                f"{_labels_file(ctx, model)}: gc run {run_id} removed the version and was "
                                "interrupted before dropping them")
    done = []
    for model, version, run_id, item in retention.unaudited(runs, audit.read_entries(ctx.repo), held):
        # Dropped just now, or (killed after dropping them) what the interrupted run's plan recorded.
        labels = dropped.get((model, version)) or {"tags": item.get("tags", []),
                                                   "description": item.get("description")}
        audit.append(ctx.repo, "remove", model=model, version=version, by=by,
                     reason=f"removed by gc run {run_id}, which was interrupted before recording it", run=run_id,
                     labels=_audited(labels))
        done.append(f"{model} {version}")
    return done


def _labels_file(ctx: Context, model: str) -> str:
    return str(layout.labels_file(ctx.repo, model).relative_to(ctx.repo))


def _audited(labels: dict[str, Any]) -> dict[str, Any]:
    """A removed version's labels as its audit line records them (a description is free text: redacted)."""
    text = labels.get("description")
    return {"aliases": list(labels.get("aliases", [])), "tags": list(labels.get("tags", [])),
            "description": secrets.redact(text) if isinstance(text, str) else None}


def _remove(ctx: Context, found: retention.Plan, run_id: str, by: str) -> None:
    trash = removal.Trash(ctx.repo, run_id)
    reason = (f"beyond the newest {found.keep_versions} version(s), not live, in no slot, not pending, "
              "named by no alias and in no kept version's lineage")
    for item in found.removals:
        for path in item.paths:
            trash.discard(ctx.repo / path)
        # The labels go after the version: killed in between, the next gc drops them (_finish_interrupted).
        said: dict[str, Any] = {}
        if item.model and item.version:
            said = version_labels.forget(ctx.repo, item.model, [item.version]).get(item.version, {})
        dropped = f"; dropped its {retention.in_words(said)} from {_labels_file(ctx, str(item.model))}" if said else ""
        ctx.log.event("gc", f"removed {item.what}: {', '.join(map(str, item.paths))} "
                            f"({retention.human(item.bytes)}){dropped}")
        if item.version is not None:
            assert item.model is not None
            faults.checkpoint(f"gc-audit:{item.version}")
            audit.append(ctx.repo, "remove", model=item.model, version=item.version, by=by, reason=reason,
                         run=run_id, labels=_audited(said))
    trash.empty()
    summary = (f"removed {len(found.versions)} version(s) and {len(found.windows)} window(s), "
               f"{retention.human(found.bytes)}; kept the newest {found.keep_windows} window(s) and "
               f"{found.keep_versions} version(s) besides the protected ones")
    ctx.log.event("gc", summary)
    audit.append(ctx.repo, "gc", model=ctx.name, version=None, by=by, reason=summary, run=run_id,
                 versions=[r.what for r in found.versions], windows=[r.window for r in found.windows])
