"""``lowops init``: lay out a new project."""

from __future__ import annotations

from pathlib import Path

import click

from lowops.cli.common import json_option, print_json


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--no-demo", is_flag=True, help="Do not build the demo SQLite store.")
@click.option("--demo-only", is_flag=True,
              help="Only (re)build the demo store of an existing project (demo/store.sqlite).")
@click.option("--customers", type=click.IntRange(100, 10_000_000), default=24_000, show_default=True,
              help="Customers per window in the demo store.")
@json_option
@click.pass_context
def init(ctx: click.Context, directory: Path | None, no_demo: bool, demo_only: bool, customers: int, as_json: bool) -> None:
    """Create a project in DIRECTORY: config, SQL, pipelines, crontab and a demo store.

    The demo store is a SQLite database of churn feature marts for 2024-10 …
    2025-12, with a shift in the world from 2025-08.

    \b
    Example:
        lowops init churn && cd churn
        lowops backfill --from 2025-01 --to 2025-12
    """
    from lowops.stages.project_init import build_demo_store, init_project

    if directory is None:
        project = (ctx.find_root().obj or {}).get("project")
        directory = Path(project) if project else Path(".")
    if demo_only:
        rows = build_demo_store(directory.resolve(), customers=customers)
        result = {"project": str(directory.resolve()), "files": [], "demo_rows": rows}
    else:
        result = init_project(directory, demo=not no_demo, customers=customers)
    if as_json:
        print_json(result)
        return
    for path in result["files"]:
        click.echo(f"created {path}")
    if result["demo_rows"]:
        total = ", ".join(f"{k} {v}" for k, v in result["demo_rows"].items())
        click.echo(f"demo store {Path(result['project']) / 'demo' / 'store.sqlite'}: {total} rows")
    click.echo(f"next: cd {result['project']} && lowops validate && lowops backfill --from 2025-01 --to 2025-12")
