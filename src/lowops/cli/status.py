"""``lowops status``: what is live, what ran, how it went."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, load_only, print_json, project_options


@click.command()
@click.option("--runs", "n_runs", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many recent runs to show.")
@project_options
@json_option
@click.pass_context
@each_model
def status(ctx: click.Context, n_runs: int, as_json: bool) -> None:
    """Show the live model, the last runs and the latest KPIs (read-only).

    \b
    Example:
        lowops status --json
    """
    from lowops.commands.status import status as collect

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
    verdict = data.get("drift")
    if verdict:
        kpi = verdict.get("kpi") or {}
        value = kpi.get("value")
        click.echo(f"latest monitoring ({verdict['window']}, {verdict['version']}): drift that matters "
                   f"{'YES' if verdict['drift_that_matters'] else 'no'}, model drift "
                   f"{'YES' if verdict['model_drift'] else 'no'}"
                   + (f" ({kpi.get('metric')} {value:.4f} {verdict.get('model_drift_basis')})" if value is not None else ""))
        click.echo(f"  drifted: {', '.join(verdict.get('drifted') or []) or 'none'}; "
                   f"top impact: {', '.join(verdict.get('top_features') or []) or '-'}")
    else:
        click.echo("latest monitoring: none yet (lowops run or lowops drift writes it)")
    idle = data.get("idle") or {}
    click.echo(f"deploy mode {data['mode']}, promote {data['governance']}; other slot {idle.get('slot', '-')}: "
               f"{idle.get('version') or 'empty'}")
    if data["pending"]:
        click.echo("pending approval:")
        for item in data["pending"]:
            click.echo(f"  {item['version']} since {item['since']} (window {item['window']}): {item['reason']}")
            click.echo(f"    lowops approve {item['version']} --by NAME --reason TEXT   |   lowops reject ...")
    else:
        click.echo("pending approval: none")
    if data["slot_kpis"]:
        click.echo(f"{data['primary_metric']} per slot by window:")
        for row in data["slot_kpis"]:
            cells = [f"{slot} {row[slot]['version']} {row[slot]['value']:.4f} ({row[slot]['rows']} rows)"
                     for slot in ("blue", "green") if slot in row]
            click.echo(f"  {row['window']:<10} " + "   ".join(cells))
