"""``lowops score``: the live model scores a window."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options, window_option


@click.command()
@window_option
@project_options
@json_option
@click.pass_context
@each_model
def score(ctx: click.Context, window: str | None, as_json: bool) -> None:
    """Score a window with the live model into outputs/W/predictions-RUN.csv.

    The model file's digest is verified before it is deserialised; a
    tampered model is refused with exit 77.

    \b
    Example:
        lowops score --window 2025-03
    """
    from lowops.commands.score import score as score_window

    stage_ctx = open_project(ctx)
    result = score_window(stage_ctx, stage_ctx.window(window))
    if as_json:
        print_json(result)
    elif result["status"] == "empty":
        click.echo(f"{result['window']}: empty window, nothing to score")
    else:
        click.echo(f"{result['window']}: scored {result['rows']} rows with {result['version']} -> "
                   f"{result['predictions']}")
