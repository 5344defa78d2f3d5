"""``lowops report``: the static HTML dashboard of the repository."""

from __future__ import annotations

from pathlib import Path

import click

from lowops.cli.common import json_option, load_only, print_json, project_options


@click.command()
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the page here instead of REPO/reports/index.html.")
@project_options
@json_option
@click.pass_context
def report(ctx: click.Context, output: Path | None, as_json: bool) -> None:
    """Write the static HTML dashboard (read-only on the repository; no database).

    One self-contained file, repo/reports/index.html, that opens from the
    filesystem with no server and no network: the primary KPI per window per
    model version with the switches marked, retraining against no retraining,
    a drift heat map, the latest window's impact, the model versions, the
    pipeline's decisions and approvals, per-slot KPIs and links to the
    Sweetviz reports. pipelines/daily.sh refreshes it after every run.

    \b
    Example:
        lowops report
        lowops report --output /srv/www/churn.html --json
        xdg-open repo/reports/index.html
    """
    from lowops.commands.report import report as write_report

    project = load_only(ctx)
    result = write_report(project, output)
    if as_json:
        print_json(result)
        return
    empty = [name for name, state in result["sections"].items() if state != "ok"]
    click.echo(f"wrote {result['report']} ({result['bytes'] // 1024} KB, {len(result['images'])} charts, "
               f"{len(result['windows'])} windows"
               + (f"; no data yet for: {', '.join(empty)}" if empty else "") + ")")
    for problem in result["problems"]:
        click.echo(f"warning: left out {problem}", err=True)
