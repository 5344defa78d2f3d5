"""``lowops promote`` and ``lowops rollback``: the blue/green switch by hand, both ways."""

from __future__ import annotations

import click

from lowops.cli.common import json_option, open_project, print_json, project_options


@click.command()
@click.argument("version")
@click.option("--by", default=None, metavar="NAME", help="Who switches (default: your login name).")
@click.option("--reason", default=None, metavar="TEXT", help="Why (recorded in the deploy history and audit log).")
@click.option("--force", is_flag=True, help="Switch even if the smoke test fails (needs --reason).")
@project_options
@json_option
@click.pass_context
def promote(ctx: click.Context, version: str, by: str | None, reason: str | None, force: bool,
            as_json: bool) -> None:
    """Make VERSION live: into the idle slot, smoke-tested there, then one atomic switch.

    A failed smoke test leaves the live slot untouched, marks VERSION
    rejected and exits 65; --force switches anyway and writes the reason
    to the audit log.

    \b
    Example:
        lowops promote v0003 --reason "retrained on the new price list"
        lowops promote v0003 --force --reason "golden.sql is stale, model checked by hand"
    """
    from lowops.commands.promote import promote as switch_to

    stage_ctx = open_project(ctx)
    result = switch_to(stage_ctx, version, by=by, reason=reason, force=force)
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['model']} {result['live']} is live in slot {result['slot']} (was {result['previous']})"
               + ("; FORCED past a failed smoke test" if result["forced"] else "; smoke test passed"))


@click.command()
@click.option("--by", default=None, metavar="NAME", help="Who rolls back (default: your login name).")
@click.option("--reason", default=None, metavar="TEXT", help="Why (recorded in the deploy history and audit log).")
@project_options
@json_option
@click.pass_context
def rollback(ctx: click.Context, by: str | None, reason: str | None, as_json: bool) -> None:
    """Switch back to the version that was live before: one atomic flip, no data access.

    \b
    Example:
        lowops rollback --reason "complaints about the new scores"
        lowops status
    """
    from lowops.commands.promote import rollback as switch_back

    stage_ctx = open_project(ctx)
    result = switch_back(stage_ctx, by=by, reason=reason)
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['model']} {result['live']} is live again (was {result['previous']})")
