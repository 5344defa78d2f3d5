"""``lowops train``: a new model version on the windows ending at W."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options, window_option


@click.command()
@window_option
@click.option("--full", is_flag=True, help="Re-extract every window of the range instead of reusing snapshots.")
@project_options
@json_option
@click.pass_context
@each_model
def train(ctx: click.Context, window: str | None, full: bool, as_json: bool) -> None:
    """Train and register a new model version on the windows ending at W.

    The most recent labelled window of the range is the hold-out; the others
    are trained on (with k-fold CV). Missing snapshots are extracted.

    \b
    Example:
        lowops train --window 2025-06
        lowops models show v0002
    """
    from lowops.commands.train import train as train_version

    stage_ctx = open_project(ctx)
    result = train_version(stage_ctx, stage_ctx.window(window), full=full)
    card = result["card"]
    if as_json:
        described = card.to_dict()
        print_json({"version": result["version"], "live": result["live"], "run_id": result["run_id"],
                    "metrics": described["metrics"], "lineage": described["lineage"]})
        return
    primary = card.metrics.primary
    click.echo(f"{card.model} {result['version']}: hold-out {card.lineage.holdout_window} "
               f"{primary}={card.metrics.holdout[primary]:.4f}"
               + (" (live)" if result["live"] else ""))
