"""Options every command shares, and opening a project from them.

Nothing here imports pandas or scikit-learn: command modules are imported to
build ``--help``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.ensure_object(dict)
        ctx.obj[param.name] = value
    return value


def project_options(func: F) -> F:
    """-C/--project and -c/--config on the command itself (they also work before it)."""
    func = click.option("-c", "--config", "config", type=click.Path(dir_okay=False), default=None,
                        expose_value=False, callback=_store, is_eager=True,
                        help="Config file (default: PROJECT/config/lowops.yaml).")(func)
    func = click.option("-C", "--project", "project", type=click.Path(file_okay=False), default=None,
                        expose_value=False, callback=_store, is_eager=True,
                        help="Project directory (default: the current directory).")(func)
    return func


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def window_option(func: F) -> F:
    return click.option("--window", "-w", "window", default=None, metavar="W",
                        help="Window label (2025-03, 2025-W10, 2025-03-15, 2025-Q2, 2025); "
                             "default: the last complete window.")(func)


def load_only(ctx: click.Context) -> Any:
    """Load and validate the project's config without opening the database."""
    from lowops import commands

    obj = ctx.find_root().obj or {}
    project = commands.load(Path(obj["project"]) if obj.get("project") else None,
                            Path(obj["config"]) if obj.get("config") else None)
    for warning in project.warnings:
        click.echo(f"warning: {warning}", err=True)
    return project


def open_project(ctx: click.Context) -> Any:
    """Load the project the options name and open a command context on it (closed with the click context)."""
    from lowops import commands
    from lowops.progress import for_terminal

    shown = for_terminal(bool(ctx.params.get("as_json")))
    opened = commands.open_context(load_only(ctx), shown)
    ctx.call_on_close(opened.close)
    ctx.call_on_close(shown.close)
    return opened


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
