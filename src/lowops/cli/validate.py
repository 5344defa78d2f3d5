"""``lowops validate``: is the project ready to run?"""

from __future__ import annotations

import click

from lowops.cli.common import each_model, open_project, project_options


@click.command()
@project_options
@click.pass_context
@each_model
def validate(ctx: click.Context) -> None:
    """Check the config, the estimator, every SQL file, that the database answers, and that each query compiles.

    The estimator class must import from model.allowed_modules and suit model.task; the
    feature, label and golden-sample (smoke.golden_sql) queries run on an empty window, so
    no rows are fetched. A failure exits 78 (configuration), 69 (database) or 65 (a missing column).

    \b
    Example:
        lowops validate && lowops run
    """
    from lowops.commands.validate import validate as check_project

    for line in check_project(open_project(ctx)):
        click.echo(line)
