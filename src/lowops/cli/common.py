"""Options every command shares, and opening a project from them.

Nothing here imports pandas or scikit-learn: command modules are imported to
build ``--help``.
"""

from __future__ import annotations

import functools
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
    """-C/--project, -c/--config and --model on the command itself (they also work before it)."""
    func = click.option("--model", "model", default=None, metavar="NAME", expose_value=False, callback=_store,
                        is_eager=True, help="The model, in a project with several (default: each in turn "
                                            "where a command can run for all, else required).")(func)
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


def _load_all(ctx: click.Context) -> Any:
    """The project the options name, with every model (loaded once per command)."""
    from lowops import commands

    obj = ctx.find_root().obj or {}
    if "_loaded" not in obj:
        project = commands.load(Path(obj["project"]) if obj.get("project") else None,
                                Path(obj["config"]) if obj.get("config") else None)
        for warning in project.warnings:
            click.echo(f"warning: {warning}", err=True)
        obj["_loaded"] = project
    return obj["_loaded"]


def load_only(ctx: click.Context) -> Any:
    """Load and validate the project's config without opening the database: the project as the chosen model
    (``--model``, or the only one) sees it."""
    from lowops.errors import UsageError

    project = _load_all(ctx)
    try:
        return project.for_model((ctx.find_root().obj or {}).get("model"))
    except UsageError as exc:
        raise click.UsageError(exc.message) from None


def each_model(func: F) -> F:
    """A command that runs for every model of a project with several, in the config's order, unless
    ``--model`` names one.

    Each model's output follows a ``model NAME:`` line (with ``--json``: one document, by model). A model
    that fails does not stop the next: its error is printed, and the command exits with the first
    failure's code once every model has had its turn.
    """

    @functools.wraps(func)
    def for_each(*args: Any, **kwargs: Any) -> Any:
        from lowops import secrets
        from lowops.errors import LowopsError

        ctx = click.get_current_context()
        root = ctx.find_root()
        root.ensure_object(dict)
        obj = root.obj
        names = _load_all(ctx).model_names
        if obj.get("model") is not None or len(names) < 2:
            return func(*args, **kwargs)
        as_json = bool(kwargs.get("as_json"))
        collected: dict[str, Any] = {}
        failed: int | None = None
        for name in names:
            obj["model"], obj["_json"] = name, []
            if not as_json:
                click.echo(f"model {name}:")
            try:
                func(*args, **kwargs)
            except LowopsError as exc:
                if obj.get("debug"):
                    raise
                click.echo(f"Error: model {name}: {secrets.redact(exc.message)}", err=True)
                failed = exc.exit_code if failed is None else failed
            except click.exceptions.Exit as exc:
                if exc.exit_code:
                    failed = exc.exit_code if failed is None else failed
            finally:
                documents = obj.pop("_json")
                obj["model"] = None
            if documents:
                collected[name] = documents[0] if len(documents) == 1 else documents
        if as_json:
            print_json(collected)
        if failed is not None:
            raise click.exceptions.Exit(failed)
        return None

    return for_each  # type: ignore[return-value]  # functools.wraps keeps the signature click reads


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
    """Print ``data`` as JSON (inside :func:`each_model`, it is kept for the one document by model)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    documents = obj.get("_json") if obj else None
    if documents is not None:
        documents.append(data)
        return
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
