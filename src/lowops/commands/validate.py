"""``lowops validate``: is the project ready to run?"""

from __future__ import annotations

from collections.abc import Iterator

from lowops.context import Context
from lowops.errors import DataError


def validate(ctx: Context) -> Iterator[str]:
    """Check the config, every SQL file, that the database answers and that each query compiles.

    No rows are fetched: each query runs on an empty window. Yields one line per
    check passed, as it passes.

    Raises:
        ConfigError: a SQL file is missing or not a single read-only SELECT.
        DatabaseError: the database does not answer.
        DataError: a query lacks the entity key or the target.
    """
    project = ctx.project
    yield f"config   {project.config_path}: ok"
    queries = {f"features.marts.{name}": sql for name, sql in ctx.mart_sql().items()}
    queries["labels.sql"] = ctx.label_sql()
    ctx.db.ping()
    yield f"database {ctx.db.masked_url}: answers"
    key, target = project.config.entity_key, project.config.labels.target
    for name, sql in queries.items():
        columns = ctx.db.check_query(sql)
        if key not in columns:
            raise DataError(f"The query {sql.path} ({name}) returns no '{key}' column (entity_key in config).")
        if name == "labels.sql" and target not in columns:
            raise DataError(f"The query {sql.path} (labels.sql) returns no "
                            f"'{target}' column (labels.target in config).")
        yield f"sql      {sql.path}: compiles, {len(columns)} columns"
    yield "ready"
