"""Shared set-up for the continuous-training tests: one small demo project, cloned per test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

_BASE: dict[str, Path] = {}

# A linear model and no CV keep each training to a fraction of a second, even on a busy machine.
FAST = {
    "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}},
    "train": {"cv_folds": 0},
    "compare": {"bootstrap": 200, "cooldown_windows": 0},
    "notify": {"retries": 2, "backoff_seconds": 0.0},
}


def set_config(project: Path, updates: dict[str, Any]) -> None:
    """Deep-merge ``updates`` into the project's config/lowops.yaml."""
    path = project / "config" / "lowops.yaml"
    data = yaml.safe_load(path.read_text())

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict) and key != "estimator":
                merge(into[key], value)
            else:
                into[key] = value

    merge(data, updates)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def base_project(factory: Any) -> Path:
    """A 2,000-customer demo project whose 2025-01 run trained v0001 (built once per session)."""
    if "base" not in _BASE:
        from lowops.config import load_project
        from lowops.commands import run as pipeline
        from lowops.context import Context
        from lowops.commands.init import init_project

        root = factory.mktemp("ct-base") / "project"
        init_project(root, customers=2000)
        set_config(root, FAST)
        ctx = Context.open(load_project(root))
        pipeline.run(ctx, ctx.window("2025-01"))
        ctx.db.dispose()
        _BASE["base"] = root
    return _BASE["base"]


def drifted_project(factory: Any) -> Path:
    """The base project after ``lowops run --window 2025-09`` (after the demo world's shift): model drift
    retrained v0002, which won the comparison and went live blue/green (built once per session)."""
    if "drifted" not in _BASE:
        project = clone(base_project(factory), factory.mktemp("drifted"))
        run_ok(project, "run", "--window", "2025-09")
        _BASE["drifted"] = project
    return _BASE["drifted"]


def run_ok(project: Path, *args: str) -> str:
    """``lowops -C project ARGS...`` in-process, which must exit 0; what it printed."""
    from click.testing import CliRunner

    from lowops.cli import cli

    result = CliRunner().invoke(cli, ["-C", str(project), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def clone(base: Path, dest: Path) -> Path:
    target = dest / "project"
    shutil.copytree(base, target)
    return target


def context(project: Path) -> Any:
    from lowops.config import load_project
    from lowops.context import Context

    return Context.open(load_project(project))


def metric_lines(project: Path, prefix: str) -> list[list[str]]:
    path = project / "repo" / "logs" / "metrics.log"
    return [line.split(" ") for line in path.read_text().splitlines() if line.split(" ")[4].startswith(prefix)]
