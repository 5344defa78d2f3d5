"""The state of a project at a glance, for ``lowops status``."""

from __future__ import annotations

from typing import Any

from lowops.config import Project
from lowops.io import deploy
from lowops.io.logs import read_metrics, read_runs


def status(project: Project, n_runs: int = 5) -> dict[str, Any]:
    name = project.config.model.name
    repo = project.repo
    state = deploy.read_pointer(repo, name)
    live = None
    if state:
        slot = state["slots"][state["live"]] or {}
        live = {"version": slot.get("version"), "slot": state["live"], "since": slot.get("since")}
    runs = [{k: r.get(k) for k in ("run_id", "command", "window", "status", "started_at", "ended_at", "message")}
            for r in read_runs(repo)[-n_runs:]]
    primary = project.config.train.primary_metric
    latest: dict[str, dict[str, Any]] = {}
    for row in read_metrics(repo):
        if row["metric"] == primary and row["model"] == name:
            latest[row["window"]] = {"window": row["window"], "version": row["version"], "value": row["value"]}
    return {"model": name, "live": live, "runs": runs, "primary_metric": primary,
            "kpis": [latest[w] for w in sorted(latest)][-12:]}
