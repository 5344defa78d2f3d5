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
    stage_ctx = open_project(ctx)
    project = stage_ctx.project
    click.echo(f"config   {project.config_path}: ok")
    queries = {f"features.marts.{name}": sql for name, sql in stage_ctx.mart_sql().items()}
    queries["labels.sql"] = stage_ctx.label_sql()
    stage_ctx.db.ping()
    click.echo(f"database {stage_ctx.db.masked_url}: answers")
    from lowops.errors import DataError

    key = project.config.entity_key
    for name, sql in queries.items():
        columns = stage_ctx.db.check_query(sql)
        if key not in columns:
            raise DataError(f"The query {sql.path} ({name}) returns no '{key}' column (entity_key in config).")
        if name == "labels.sql" and project.config.labels.target not in columns:
            raise DataError(f"The query {sql.path} (labels.sql) returns no "
                            f"'{project.config.labels.target}' column (labels.target in config).")
        click.echo(f"sql      {sql.path}: compiles, {len(columns)} columns")
    click.echo("ready")
