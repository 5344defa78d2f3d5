"""``lowops gc``: retention of old windows and versions."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options


@click.command()
@click.option("--keep-windows", type=click.IntRange(min=0), default=None, metavar="N",
              help="Windows to keep besides the protected ones (default: retention.keep_windows of the config; "
                   "when null, 90 daily, 52 weekly, 24 monthly, 8 quarterly, 3 yearly).")
@click.option("--keep-versions", type=click.IntRange(min=1), default=None, metavar="N",
              help="Versions to keep besides the protected ones (default: retention.keep_versions of the "
                   "config, 10).")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--by", default=None, metavar="NAME", help="Who removes (recorded in the audit log; default: "
                                                          "your login name).")
@project_options
@json_option
@click.pass_context
@each_model
def gc(ctx: click.Context, keep_windows: int | None, keep_versions: int | None, dry_run: bool, by: str | None,
       as_json: bool) -> None:
    """Remove old windows (data versions, predictions, monitoring) and model versions.

    The newest windows and versions stay, and so does whatever a kept one
    needs: never a version that is live, in a slot, pending approval,
    named by an alias or in a kept version's lineage, nor the windows the
    next run reads. logs/ and the audit log are never touched; every
    removal is logged and audited. A removed version's tags and
    description go with it.

    \b
    Example:
        lowops gc --dry-run
        lowops gc --keep-windows 12 --keep-versions 5
    """
    from lowops.commands.gc import gc as collect

    stage_ctx = open_project(ctx)
    result = collect(stage_ctx, keep_windows=keep_windows, keep_versions=keep_versions, dry_run=dry_run, by=by)
    if as_json:
        print_json({k: v for k, v in result.items() if k != "lines"})
        return
    for line in result["lines"]:
        click.echo(line)
