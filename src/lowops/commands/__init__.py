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
from lowops.errors import ConfigError, UsageError
from lowops.io import layout
from lowops.io.files import confine
from lowops.progress import Progress


def load(project_dir: Path | None = None, config_file: Path | None = None) -> Project:
    """Load and validate a project's configuration (no database, no lock).

    Raises:
        ConfigError: the file is missing, not YAML, or not a valid configuration.
    """
    project = load_project(project_dir, config_file)
    if project.several:
        _check_model_dirs(project)
    for name in project.model_names:
        one = project.for_model(name)
        confine(one.repo)
        use_model_key(one, create=False)  # read-only commands check cards and the audit chain with it
    return project


def _check_model_dirs(project: Project) -> None:
    """A project with several models keeps each one's repository in a directory of its name, and nothing else."""
    shared = project.shared_repo
    tops = {path.relative_to(shared).parts[0] for path in layout.fixed_paths(shared)}
    taken = sorted(top for top in tops if not top.startswith("."))  # a model's name never starts with a dot
    for name in project.model_names:
        if name in taken:
            raise ConfigError(f"{project.config_path}: a model may not be named {name!r} in a project with several "
                              f"models: its directory would be {shared / name}, a name the repository uses "
                              f"({', '.join(taken)}). Rename the model.")
    found = [name for name in taken if (shared / name).exists()]
    if found:
        first = project.model_names[0]
        raise ConfigError(f"{shared} holds a one-model repository ({', '.join(found)}), but {project.config_path} "
                          f"lists several models, each with its own directory there. Move what it holds into "
                          f"{shared / first}/ if it is {first!r}'s, or set 'repository' to another directory.")


def open_context(project: Project, progress: Progress | None = None) -> Context:
    """A command's view of a loaded project: its database, logs and compute engine (close it when done).

    ``progress`` is what a person at a terminal sees while it works (default: nothing).
    """
    if project.several and project.model_dir is None:
        raise UsageError(f"{project.config_path} has several models ({', '.join(project.model_names)}); a command "
                         f"works on one at a time: open project.for_model(NAME).")
    ctx = Context.open(project)
    if progress is not None:
        ctx.progress = progress
    return ctx
