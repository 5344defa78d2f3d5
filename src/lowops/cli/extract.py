"""``lowops extract``: snapshot a window's features (and labels, once due)."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options, window_option


@click.command()
@window_option
@project_options
@json_option
@click.pass_context
@each_model
def extract(ctx: click.Context, window: str | None, as_json: bool) -> None:
    """Snapshot a window's features (and labels, once due) as versioned Parquet.

    Unchanged data finds its version already stored and writes nothing.

    \b
    Example:
        lowops extract --window 2025-03
        ls repo/data/2025-03/
    """
    from lowops.commands.extract import extract as extract_window

    stage_ctx = open_project(ctx)
    result = extract_window(stage_ctx, stage_ctx.window(window))
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
