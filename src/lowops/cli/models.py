"""``lowops models list | show | diff``: the registry, read-only."""

from __future__ import annotations

import click

from lowops.cli.common import json_option, load_only, print_json, project_options


@click.group()
def models() -> None:
    """Inspect the model registry (read-only; never takes the lock).

    \b
    Example:
        lowops models list
        lowops models show v0001 --json
        lowops models diff v0001 v0002
    """


@models.command("list")
@project_options
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the versions of the project's model with their hold-out KPI and status.

    \b
    Example:
        lowops models list --json
    """
    from lowops.commands import models as registry_view

    project = load_only(ctx)
    rows = registry_view.list_models(project)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"No versions of '{project.config.model.name}' yet; run `lowops train` or `lowops run`.")
        return
    click.echo(f"{'version':<8} {'live':<5} {'created':<20} {'holdout':<8} {'primary':<10} {'value':>8}  status")
    for row in rows:
        value = row["primary_value"]
        shown = "-" if value is None else format(value, ".4f")
        live = ("*" + (row["slot"] or "")) if row["live"] else ""
        click.echo(f"{row['version']:<8} {live:<5} {row['created_at'] or '-':<20} "
                   f"{row['holdout_window'] or '-':<8} {row['primary_metric'] or '-':<10} {shown:>8}  {row['status']}")


@models.command()
@click.argument("version")
@project_options
@json_option
@click.pass_context
def show(ctx: click.Context, version: str, as_json: bool) -> None:
    """Show one version: lineage, metrics, importance, schema contract, profile.

    \b
    Example:
        lowops models show v0001 --json
    """
    from lowops.commands import models as registry_view

    project = load_only(ctx)
    if as_json:
        print_json(registry_view.show(project, version))
        return
    click.echo(registry_view.describe(project, version))


@models.command()
@click.argument("version_a", metavar="V1")
@click.argument("version_b", metavar="V2")
@project_options
@json_option
@click.pass_context
def diff(ctx: click.Context, version_a: str, version_b: str, as_json: bool) -> None:
    """Compare two versions: metrics, parameters, search, data, git commit, importance, schema, profile.

    \b
    Example:
        lowops models diff v0001 v0002
    """
    from lowops.commands import models as registry_view

    project = load_only(ctx)
    changes = registry_view.diff(project, version_a, version_b)
    if as_json:
        print_json(changes)
        return
    if not changes:
        click.echo(f"{version_a} and {version_b} do not differ.")
    for change in changes:
        click.echo(f"{change['path']}: {change['a']} -> {change['b']}")
