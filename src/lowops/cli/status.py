"""``lowops status``: what is live, what ran, how it went."""

from __future__ import annotations

import click

from lowops.cli.common import json_option, load_only, print_json, project_options


@click.command()
@click.option("--runs", "n_runs", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many recent runs to show.")
@project_options
@json_option
@click.pass_context
def status(ctx: click.Context, n_runs: int, as_json: bool) -> None:
    """Show the live model, the last runs and the latest KPIs (read-only).

    \b
    Example:
        lowops status --json
    """
    from lowops.stages.status import status as collect

    project = load_only(ctx)
    data = collect(project, n_runs)
    if as_json:
        print_json(data)
        return
    live = data["live"]
    if live:
        click.echo(f"model {data['model']}: {live['version']} live in slot {live['slot']} since {live['since']}")
    else:
        click.echo(f"model {data['model']}: nothing live yet")
    click.echo("recent runs:")
    for run in data["runs"]:
        click.echo(f"  {run['run_id']} {run['command']:<8} {run['window'] or '-':<10} {run['status']:<8} "
                   f"{run['started_at']}{'  ' + run['message'] if run.get('message') else ''}")
    if data["kpis"]:
        click.echo(f"latest {data['primary_metric']} by window:")
        for row in data["kpis"]:
            click.echo(f"  {row['window']:<10} {row['version']:<6} {row['value']:.4f}")
