"""``lowops retrain``: the manual trigger of continuous training."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options


@click.command()
@click.option("--window", "-w", "window", default=None, metavar="W",
              help="The hold-out window: the new version trains on the windows before it "
                   "(default: the latest window a run completed).")
@click.option("--by", default=None, metavar="NAME", help="Who asks (default: your login name).")
@project_options
@json_option
@click.pass_context
@each_model
def retrain(ctx: click.Context, window: str | None, by: str | None, as_json: bool) -> None:
    """Retrain now, compare with the live version and those live at T-1 and T-2, act on it.

    The new version trains on the windows ending at W and never on W itself:
    W's labelled rows are the common hold-out of the comparison. The winner
    is smoke-tested and switched in blue/green (or left pending approval with
    governance.promote: manual); the decision goes to
    repo/monitoring/W/decision.txt.

    \b
    Example:
        lowops retrain --window 2025-09
        cat repo/monitoring/2025-09/decision.txt
    """
    from lowops.commands.retrain import retrain as retrain_now

    stage_ctx = open_project(ctx)
    result = retrain_now(stage_ctx, stage_ctx.window(window) if window else None, by=by)
    if as_json:
        print_json(result)
        return
    click.echo(f"{result['window']}: trained {result['retrained']}; winner {result['winner']} "
               f"(live was {result['incumbent']}): {result['outcome']}")
    click.echo(f"reason: {result['reason']}")
    click.echo(f"decision: {stage_ctx.repo / result['decision_file']}")
