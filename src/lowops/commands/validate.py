"""``lowops validate``: is the project ready to run?"""

from __future__ import annotations

from collections.abc import Iterator

from lowops.context import Context
from lowops.errors import DataError
from lowops.model import build


def _estimator(ctx: Context) -> str:
    """The configured estimator, checked by the code training builds it with: allowed, importable, for the task.

    Raises:
        ConfigError: outside ``model.allowed_modules``, not importable (a misspelt class), not an estimator,
            not one for ``model.task``, or parameters it does not take.
    """
    model, config_file = ctx.config.model, ctx.project.config_path
    cls = build.estimator_class(model.estimator.class_, model.allowed_modules, config_file, model.task)
    build.build_estimator(cls, dict(model.estimator.params), model.random_state, ctx.config.compute.n_jobs,
                          config_file)
    kind = "a classifier" if model.task == "classification" else "a regressor"
    return f"model    {model.estimator.class_}: imports, {kind} for model.task '{model.task}'"


def validate(ctx: Context) -> Iterator[str]:
    """Check the config, the estimator, every SQL file, that the database answers and that each query compiles.

    No rows are fetched: each query runs on an empty window. The golden sample of the
    smoke test (``smoke.golden_sql``, when ``smoke.golden`` is ``sql``) is checked the same
    way. Yields one line per check passed, as it passes.

    Raises:
        ConfigError: the estimator does not fit the config, or a SQL file is missing, not a single
            read-only SELECT, or rejected by the database.
        DatabaseError: the database does not answer.
        DataError: a query lacks the entity key or the target.
    """
    project = ctx.project
    yield f"config   {project.config_path}: ok"
    yield _estimator(ctx)
    queries = {f"features.marts.{name}": sql for name, sql in ctx.mart_sql().items()}
    queries["labels.sql"] = ctx.label_sql()
    golden = ctx.golden_sql() if project.config.smoke.golden == "sql" else None
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
    if golden is not None:
        # Bound and run as the smoke test runs it (on an empty window here): a broken golden sample is found
        # now, not when a retrained version's switch fails its smoke test.
        yield f"sql      {golden.path}: compiles, {len(ctx.db.check_query(golden))} columns (smoke.golden_sql)"
    yield "ready"
