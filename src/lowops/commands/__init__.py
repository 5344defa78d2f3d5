"""The library behind each command, one module per command of the CLI.

Each ``lowops.commands.X`` is what ``lowops X`` runs: it takes the repository
lock and keeps a run ledger when it writes, and calls the lifecycle, the stages
and the repository below it. This is the only package that takes the lock.
``open_context`` and ``load`` are how a command gets at a project.
"""

from __future__ import annotations

from pathlib import Path

from lowops.config import Project, load_project
from lowops.context import Context, use_model_key
from lowops.io.files import confine
from lowops.progress import Progress


def load(project_dir: Path | None = None, config_file: Path | None = None) -> Project:
    """Load and validate a project's configuration (no database, no lock).

    Raises:
        ConfigError: the file is missing, not YAML, or not a valid configuration.
    """
    project = load_project(project_dir, config_file)
    confine(project.repo)
    use_model_key(project, create=False)  # read-only commands check cards and the audit chain with it
    return project


def open_context(project: Project, progress: Progress | None = None) -> Context:
    """A command's view of a loaded project: its database, logs and compute engine (close it when done).

    ``progress`` is what a person at a terminal sees while it works (default: nothing).
    """
    ctx = Context.open(project)
    if progress is not None:
        ctx.progress = progress
    return ctx
