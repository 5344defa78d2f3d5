"""``lowops init``: lay out a new project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lowops.cli.common import json_option, print_json


def _check_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from lowops.commands.init import masked

    try:
        masked(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--no-demo", is_flag=True, help="Do not build the demo SQLite store.")
@click.option("--demo-only", is_flag=True,
              help="Only (re)build the demo store of an existing project (demo/store.sqlite).")
@click.option("--customers", type=click.IntRange(100, 10_000_000), default=24_000, show_default=True,
              help="Customers per window in the demo store.")
@click.option("--demo-url", metavar="URL", default=None, callback=_check_url,
              help="Load the demo store into this database (a SQLAlchemy URL, e.g. "
                   "postgresql+psycopg://postgres@127.0.0.1:5432/test) instead of demo/store.sqlite; "
                   "its four tables are replaced.")
@json_option
@click.pass_context
def init(ctx: click.Context, directory: Path | None, no_demo: bool, demo_only: bool, customers: int,
         demo_url: str | None, as_json: bool) -> None:
    """Create a project in DIRECTORY: config, SQL, pipelines, crontab, demo store, integrity key.

    The integrity key signs every model version and audit line; it is made
    outside the project, in ~/.config/lowops/keys/<project>.key (mode 0600).

    The demo store is a SQLite database of churn feature marts for 2024-10 …
    2025-12, with a shift in the world from 2025-08. With --demo-url it is
    loaded into a database server instead; point the project at it with
    LOWOPS_DB_URL (or database.url).

    \b
    Example:
        lowops init churn && cd churn
        lowops backfill --from 2025-01 --to 2025-12
        lowops init --demo-only --demo-url mysql+pymysql://root@127.0.0.1:3306/test
    """
    from lowops.commands.init import build_demo_store, init_project, masked

    if directory is None:
        project = (ctx.find_root().obj or {}).get("project")
        directory = Path(project) if project else Path(".")
    if demo_only:
        rows = build_demo_store(directory.resolve(), customers=customers, url=demo_url)
        result: dict[str, Any] = {"project": str(directory.resolve()), "files": [], "demo_rows": rows}
    else:
        result = init_project(directory, demo=not no_demo, customers=customers, demo_url=demo_url)
    if as_json:
        print_json(result)
        return
    for path in result["files"]:
        click.echo(f"created {path}")
    if "key" in result:
        state = "created" if result["key_created"] else "kept the existing"
        click.echo(f"{state} integrity key {result['key']} (mode 0600; back it up: without it no version "
                   "of this project is trusted)")
    if result["demo_rows"]:
        total = ", ".join(f"{k} {v}" for k, v in result["demo_rows"].items())
        where = masked(demo_url) if demo_url else Path(result["project"]) / "demo" / "store.sqlite"
        click.echo(f"demo store {where}: {total} rows")
    click.echo(f"next: cd {result['project']} && lowops validate && lowops backfill --from 2025-01 --to 2025-12")
