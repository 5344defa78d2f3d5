"""``lowops extract | train | score``: one stage of the loop for one window."""

from __future__ import annotations

import click

from lowops.cli.common import json_option, open_project, print_json, project_options, window_option


@click.command()
@window_option
@project_options
@json_option
@click.pass_context
def extract(ctx: click.Context, window: str | None, as_json: bool) -> None:
    """Snapshot a window's features (and labels, once due) as versioned Parquet.

    Unchanged data finds its version already stored and writes nothing.

    \b
    Example:
        lowops extract --window 2025-03
        ls repo/data/2025-03/
    """
    from lowops.stages import pipeline

    stage_ctx = open_project(ctx)
    result = pipeline.extract_only(stage_ctx, stage_ctx.window(window))
    data = {"window": result["window"], "run_id": result["run_id"]}
    for kind in ("features", "labels"):
        snap = result[kind]
        data[kind] = None if snap is None else {"version": snap.version, "rows": snap.rows,
                                                "path": str(snap.path), "new": snap.created}
    if as_json:
        print_json(data)
        return
    if data["features"] is None:
        click.echo(f"{data['window']}: empty window, no feature rows")
        return
    for kind in ("features", "labels"):
        info = data[kind]
        if info:
            state = "new" if info["new"] else "unchanged"
            click.echo(f"{data['window']} {kind}: {info['rows']} rows, {info['version']} ({state}) -> {info['path']}")
        else:
            click.echo(f"{data['window']} {kind}: none yet")


@click.command()
@window_option
@click.option("--full", is_flag=True, help="Re-extract every window of the range instead of reusing snapshots.")
@project_options
@json_option
@click.pass_context
def train(ctx: click.Context, window: str | None, full: bool, as_json: bool) -> None:
    """Train and register a new model version on the windows ending at W.

    The most recent labelled window of the range is the hold-out; the others
    are trained on (with k-fold CV). Missing snapshots are extracted.

    \b
    Example:
        lowops train --window 2025-06
        lowops models show v0002
    """
    from lowops.stages import pipeline

    stage_ctx = open_project(ctx)
    result = pipeline.train_only(stage_ctx, stage_ctx.window(window), full=full)
    meta = result["metadata"]
    if as_json:
        print_json({"version": result["version"], "live": result["live"], "run_id": result["run_id"],
                    "metrics": meta["metrics"], "lineage": meta["lineage"]})
        return
    primary = meta["metrics"]["primary"]
    click.echo(f"{meta['model']} {result['version']}: hold-out {meta['lineage']['holdout_window']} "
               f"{primary}={meta['metrics']['holdout'][primary]:.4f}"
               + (" (live)" if result["live"] else ""))


@click.command()
@window_option
@project_options
@json_option
@click.pass_context
def score(ctx: click.Context, window: str | None, as_json: bool) -> None:
    """Score a window with the live model into outputs/W/predictions-RUN.csv.

    The model file's digest is verified before it is deserialised; a
    tampered model is refused with exit 77.

    \b
    Example:
        lowops score --window 2025-03
    """
    from lowops.stages import pipeline

    stage_ctx = open_project(ctx)
    result = pipeline.score_only(stage_ctx, stage_ctx.window(window))
    if as_json:
        print_json(result)
    elif result["status"] == "empty":
        click.echo(f"{result['window']}: empty window, nothing to score")
    else:
        click.echo(f"{result['window']}: scored {result['rows']} rows with {result['version']} -> "
                   f"{result['predictions']}")
