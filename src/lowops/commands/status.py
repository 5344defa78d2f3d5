"""``lowops status``: the state of a project at a glance (read-only, no lock, no database)."""

from __future__ import annotations

from typing import Any

from lowops.config import Project
from lowops.io import deploy
from lowops.io import version_status as vstatus
from lowops.io.logs import read_metrics
from lowops.io.runs import read_runs
from lowops.monitoring.outputs import latest_verdict

_RUN_FIELDS = ("run_id", "command", "window", "status", "started_at", "ended_at", "message")


def status(project: Project, n_runs: int = 5) -> dict[str, Any]:
    """The live model, the last runs, the latest KPIs and verdict, pending approvals and per-slot KPIs."""
    name = project.config.model.name
    repo = project.repo
    state = deploy.read_pointer(repo, name)
    live = None
    if state:
        slot = state["slots"][state["live"]] or {}
        live = {"version": slot.get("version"), "slot": state["live"], "since": slot.get("since")}
    runs = [{k: v for k, v in r.to_dict().items() if k in _RUN_FIELDS} for r in read_runs(repo)[-n_runs:]]
    for run in runs:
        run.setdefault("message", None)
    primary = project.config.train.primary_metric
    latest: dict[str, dict[str, Any]] = {}
    for row in read_metrics(repo):
        if row["metric"] == primary and row["model"] == name:
            latest[row["window"]] = {"window": row["window"], "version": row["version"], "value": row["value"]}
    data = {"model": name, "live": live, "runs": runs, "primary_metric": primary,
            "kpis": [latest[w] for w in sorted(latest)][-12:]}
    data.update(_continuous_training(project, state, primary))
    data["drift"] = latest_verdict(repo)
    return data


def _continuous_training(project: Project, state: dict[str, Any] | None, primary: str) -> dict[str, Any]:
    """Pending approvals, the deploy mode with the other slot, and KPIs per slot by window."""
    name, repo = project.config.model.name, project.repo
    pending = [{"version": e["version"], "since": e["at"], "window": e.get("window"), "reason": e["reason"]}
               for e in vstatus.with_status(repo, name, "pending")]
    idle = None
    if state:
        other = deploy.idle_slot(state)
        content = state["slots"].get(other) or {}
        idle = {"slot": other, "version": content.get("version")}
    per_slot: dict[str, dict[str, Any]] = {}
    for row in read_metrics(repo):
        parts = row["metric"].split(".")
        if row["model"] == name and len(parts) == 3 and parts[0] == "slot" and parts[2] == primary:
            per_slot.setdefault(row["window"], {"window": row["window"]})[parts[1]] = {
                "version": row["version"], "value": row["value"], "rows": row["rows"]}
    return {"mode": project.config.deploy.mode, "governance": project.config.governance.promote,
            "idle": idle, "pending": pending, "slot_kpis": [per_slot[w] for w in sorted(per_slot)][-12:]}
