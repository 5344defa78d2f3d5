"""``lowops approve`` and ``lowops reject``: the manual governance gate."""

from __future__ import annotations

import click

from lowops.cli.common import F, json_option, open_project, print_json, project_options


def _by_reason(func: F) -> F:
    func = click.option("--reason", required=True, metavar="TEXT", help="Why (goes in the audit log).")(func)
    return click.option("--by", required=True, metavar="NAME", help="Who decides (goes in the audit log).")(func)


@click.command()
@click.argument("version")
@_by_reason
@project_options
@json_option
@click.pass_context
def approve(ctx: click.Context, version: str, by: str, reason: str, as_json: bool) -> None:
    """Approve a pending VERSION: smoke-tested again, then switched in blue/green.

    \b
    Example:
        lowops status                     # lists what is pending
        lowops approve v0003 --by alice --reason "checked decision.txt"
    """
    from lowops.commands.approve import approve as approve_version

    stage_ctx = open_project(ctx)
    result = approve_version(stage_ctx, version, by=by, reason=reason)
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['model']} {result['live']} approved by {by} and live in slot {result['slot']} "
               f"(was {result['previous']})")


@click.command()
@click.argument("version")
@_by_reason
@project_options
@json_option
@click.pass_context
def reject(ctx: click.Context, version: str, by: str, reason: str, as_json: bool) -> None:
    """Reject a pending VERSION: it is closed and the live version stays.

    \b
    Example:
        lowops reject v0003 --by alice --reason "trained on the outage week"
    """
    from lowops.commands.approve import reject as reject_version

    stage_ctx = open_project(ctx)
    result = reject_version(stage_ctx, version, by=by, reason=reason)
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['model']} {result['version']} rejected by {by}; {result['live']} stays live")
