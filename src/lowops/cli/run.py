"""``lowops run`` and ``lowops backfill``: the whole loop, one window or many."""

from __future__ import annotations

from typing import Any

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options, window_option


def _report(outcome: Any, as_json: bool) -> dict[str, Any]:
    data = {"window": outcome.window, "status": outcome.status, "run_id": outcome.run_id, **outcome.outputs}
    if not as_json:
        if outcome.status == "skipped":
            click.echo(f"{outcome.window}: already done by run {outcome.run_id}; nothing to do "
                       "(--force runs it again)")
        elif outcome.status == "empty":
            click.echo(f"{outcome.window}: empty window, nothing to score (run {outcome.run_id})")
        else:
            metrics = outcome.outputs.get("metrics") or {}
            kpis = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k in ("roc_auc", "f1", "rmse", "r2"))
            click.echo(f"{outcome.window}: scored {outcome.outputs['rows']} rows with "
                       f"{outcome.outputs['version']} -> {outcome.outputs['predictions']}"
                       + (f"; {kpis}" if kpis else "") + f" (run {outcome.run_id})")
    return data


@click.command()
@window_option
@click.option("--force", is_flag=True, help="Run a window that already completed again (new files, none overwritten).")
@click.option("--resume", is_flag=True,
              help="Only continue the window's interrupted run, if any (interrupted runs are also "
                   "continued by a plain run).")
@project_options
@json_option
@click.pass_context
@each_model
def run(ctx: click.Context, window: str | None, force: bool, resume: bool, as_json: bool) -> None:
    """Run the whole loop for one window: extract, score, evaluate, log.

    With no live model yet, the first version is trained on the windows
    before this one and goes live. A window that already completed is a
    no-op that says so.

    \b
    Example:
        lowops run --window 2025-03
        lowops run            # as cron runs it: every complete window not yet done
    """
    from lowops.commands import run as pipeline

    stage_ctx = open_project(ctx)
    if window is None:
        outcomes = pipeline.catch_up(stage_ctx, force=force)
    else:
        outcomes = [pipeline.run(stage_ctx, stage_ctx.window(window), force=force, resume=resume)]
    data = [_report(o, as_json) for o in outcomes]
    if as_json:
        print_json(data if window is None else data[0])


@click.command()
@click.option("--from", "first", required=True, metavar="W1", help="First window, e.g. 2025-01.")
@click.option("--to", "last", required=True, metavar="W2", help="Last window (inclusive), e.g. 2025-12.")
@click.option("--force", is_flag=True, help="Run windows that already completed again.")
@project_options
@json_option
@click.pass_context
@each_model
def backfill(ctx: click.Context, first: str, last: str, force: bool, as_json: bool) -> None:
    """Run the loop for each window from W1 to W2, in order.

    Windows already done are skipped, so a backfill interrupted half-way
    simply continues where it stopped when run again.

    \b
    Example:
        lowops backfill --from 2025-01 --to 2025-12
    """
    from lowops.commands import run as pipeline

    stage_ctx = open_project(ctx)
    outcomes = pipeline.backfill(stage_ctx, stage_ctx.window(first), stage_ctx.window(last), force=force)
    data = [_report(o, as_json) for o in outcomes]
    if as_json:
        print_json(data)
