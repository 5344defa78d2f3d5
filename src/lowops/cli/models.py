"""``lowops models list | show | diff`` (read-only) and ``alias | tag | describe`` (what versions are called)."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, load_only, print_json, project_options


@click.group()
def models() -> None:
    """Inspect the model registry; name versions with aliases, tags and descriptions.

    list, show and diff are read-only and never take the lock; alias, tag and
    describe take it briefly and record what they did in the audit log. Wherever
    a VERSION is asked for, @ALIAS works too (@live: the live slot's version).

    \b
    Example:
        lowops models list
        lowops models show @live --json
        lowops models diff v0001 v0002
        lowops models alias candidate v0004
    """


@models.command("list")
@project_options
@json_option
@click.pass_context
@each_model
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
        # @live is the live column already; other aliases and the tags follow the status.
        names = " ".join([*(a for a in row["aliases"] if a != "@live"), *(f"[{t}]" for t in row["tags"])])
        click.echo(f"{row['version']:<8} {live:<5} {row['created_at'] or '-':<20} "
                   f"{row['holdout_window'] or '-':<8} {row['primary_metric'] or '-':<10} {shown:>8}  {row['status']}"
                   + (f"  {names}" if names else ""))


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


@models.command()
@click.argument("name")
@click.argument("version", required=False)
@click.option("--remove", is_flag=True, help="Remove the alias instead.")
@click.option("--by", default=None, help="Who is doing it, for the audit log (default: the login name).")
@project_options
@json_option
@click.pass_context
def alias(ctx: click.Context, name: str, version: str | None, remove: bool, by: str | None, as_json: bool) -> None:
    """Point alias NAME at VERSION; then @NAME works wherever a version does.

    @live always names the version in the live slot and cannot be set here.
    Recorded in the audit log.

    \b
    Example:
        lowops models alias candidate v0004
        lowops promote @candidate
        lowops models alias candidate --remove
    """
    from lowops.commands import labels

    if remove == (version is not None):
        raise click.UsageError("give a VERSION to point the alias at, or --remove (not both)")
    result = labels.alias(load_only(ctx), name, version, by=by)
    if as_json:
        print_json(result)
    elif result["version"] is None:
        click.echo(f"@{name} removed (it named {result['previous']})")
    else:
        moved = f" (was {result['previous']})" if result["previous"] not in (None, result["version"]) else ""
        click.echo(f"@{name} -> {result['version']}{moved}")


@models.command()
@click.argument("version")
@click.argument("tag")
@click.option("--remove", is_flag=True, help="Remove the tag instead.")
@click.option("--by", default=None, help="Who is doing it, for the audit log (default: the login name).")
@project_options
@json_option
@click.pass_context
def tag(ctx: click.Context, version: str, tag: str, remove: bool, by: str | None, as_json: bool) -> None:
    """Add TAG to VERSION (or remove it); shown by list, show and the report, recorded in the audit log.

    \b
    Example:
        lowops models tag v0003 reviewed-2025-q3
        lowops models tag @live regulator-approved
    """
    from lowops.commands import labels

    result = labels.tag(load_only(ctx), version, tag, remove=remove, by=by)
    if as_json:
        print_json(result)
    else:
        click.echo(f"{result['version']} tags: {', '.join(result['tags']) or 'none'}")


@models.command("describe")
@click.argument("version")
@click.argument("text")
@click.option("--by", default=None, help="Who is doing it, for the audit log (default: the login name).")
@project_options
@json_option
@click.pass_context
def describe_(ctx: click.Context, version: str, text: str, by: str | None, as_json: bool) -> None:
    """Set VERSION's one-line description ("" removes it); recorded in the audit log.

    \b
    Example:
        lowops models describe v0003 "retrained after the September price change"
    """
    from lowops.commands import labels

    result = labels.describe(load_only(ctx), version, text, by=by)
    if as_json:
        print_json(result)
    else:
        click.echo(f"{result['version']}: {result['description'] or 'description removed'}")
