"""Shared set-up for the continuous-training tests: one small demo project, copied per test.

The base project (2,000 customers, FAST) trained v0001 at 2025-01; the drifted one is a copy
of it on which 2025-09, after the demo world's shift, retrained and switched. Both are built
once per session through conftest's ``make_project``; tests read them or ``copy_project`` them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import copy_project, make_project, open_context, set_config

CUSTOMERS = 2000
_BASE: dict[str, Path] = {}

# A linear model and no CV keep each training to a fraction of a second, even on a busy machine. No
# Sweetviz report (some ten seconds of CPU each, at every window that needs attention) unless a test
# asks for one; the drifted project's 2025-09 record has one.
FAST = {
    "model": {"estimator": {"class": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}}},
    "train": {"cv_folds": 0},
    "drift": {"sweetviz": {"enabled": False}},
    "compare": {"bootstrap": 200, "cooldown_windows": 0},
    "notify": {"retries": 2, "backoff_seconds": 0.0},
}


def base_project(factory: Any) -> Path:
    """A 2,000-customer demo project whose 2025-01 run trained v0001 (built once per session)."""
    if "base" not in _BASE:
        from lowops.commands import run as pipeline

        root = make_project(factory.mktemp("ct-base") / "project", FAST, customers=CUSTOMERS)
        ctx = open_context(root)
        pipeline.run(ctx, ctx.window("2025-01"))
        ctx.db.dispose()
        _BASE["base"] = root
    return _BASE["base"]


def drifted_project(factory: Any) -> Path:
    """The base project after ``lowops run --window 2025-09`` (after the demo world's shift): model drift
    retrained v0002, which won the comparison and went live blue/green (built once per session). That run
    wrote the window's Sweetviz report; the project's config has Sweetviz off again, as FAST does."""
    if "drifted" not in _BASE:
        project = copy_project(base_project(factory), factory.mktemp("drifted") / "project")
        set_config(project, {"drift": {"sweetviz": {"enabled": True}}})
        run_ok(project, "run", "--window", "2025-09")
        set_config(project, {"drift": {"sweetviz": {"enabled": False}}})
        _BASE["drifted"] = project
    return _BASE["drifted"]


def run_ok(project: Path, *args: str) -> str:
    """``lowops -C project ARGS...`` in-process, which must exit 0; what it printed."""
    from click.testing import CliRunner

    from lowops.cli import cli

    result = CliRunner().invoke(cli, ["-C", str(project), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def metric_lines(project: Path, prefix: str) -> list[list[str]]:
    path = project / "repo" / "logs" / "metrics.log"
    return [line.split(" ") for line in path.read_text().splitlines() if line.split(" ")[4].startswith(prefix)]
