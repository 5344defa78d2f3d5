"""``lowops report``: the static HTML dashboard of the repository, or one window's Sweetviz report."""

from __future__ import annotations

from pathlib import Path

import click

from lowops.cli.common import each_model, json_option, load_only, print_json, project_options


@click.command()
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the page here instead of REPO/reports/index.html.")
@click.option("--sweetviz", "sweetviz_window", metavar="WINDOW", default=None,
              help="Instead, build the Sweetviz compare report of this window (e.g. 2025-03): its rows "
                   "against the reference of the version that scored it, into monitoring/WINDOW/.")
# What a run passes to the report it starts in the background.
@click.option("--version", "version", default=None, hidden=True)
@click.option("--folder", "folder", default=None, hidden=True)
@click.option("--run-id", "run_id", default=None, hidden=True)
@click.option("--background", is_flag=True, hidden=True)
@project_options
@json_option
@click.pass_context
@each_model
def report(ctx: click.Context, output: Path | None, sweetviz_window: str | None, version: str | None,
           folder: str | None, run_id: str | None, background: bool, as_json: bool) -> None:
    """Write the static HTML dashboard (read-only on the repository; no database).

    One self-contained file, repo/reports/index.html, that opens from the
    filesystem with no server and no network: the primary KPI per window per
    model version with the switches marked, retraining against no retraining,
    a drift heat map, the latest window's impact, the model versions, the
    pipeline's decisions and approvals, per-slot KPIs and links to the
    Sweetviz reports. pipelines/daily.sh refreshes it after every run.

    With --sweetviz WINDOW it builds that window's Sweetviz compare report
    instead (runs build one by themselves, in the background, only for windows
    with drift that matters or model drift; see drift.sweetviz in config).

    \b
    Example:
        lowops report
        lowops report --output /srv/www/churn.html --json
        lowops report --sweetviz 2025-03   # the visual comparison of a quiet window
        xdg-open repo/reports/index.html
    """
    from lowops.commands.report import report as write_report
    from lowops.commands.report import sweetviz

    project = load_only(ctx)
    if sweetviz_window is not None:
        built = sweetviz(project, sweetviz_window, version=version, folder=folder, run_id=run_id,
                         background=background)
        if as_json:
            print_json(built)
        elif "report" in built:
            click.echo(f"wrote {built['report']} ({built['window']} against {built['version']})")
        return
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
