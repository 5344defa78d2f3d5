"""``lowops validate``: is the project ready to run?"""

from __future__ import annotations

import click

from lowops.cli.common import open_project, project_options


@click.command()
@project_options
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check the config, every SQL file, that the database answers, and that each query compiles.

    No rows are fetched: each query runs on an empty window.

    \b
    Example:
        lowops validate && lowops run
    """
    from lowops.commands.validate import validate as check_project

    for line in check_project(open_project(ctx)):
        click.echo(line)
