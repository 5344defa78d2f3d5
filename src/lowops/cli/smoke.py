"""``lowops smoke``: positive and negative checks of a version, and its budgets."""

from __future__ import annotations

import click

from lowops.cli.common import json_option, open_project, print_json, project_options


@click.command()
@click.argument("version", required=False)
@click.option("--window", "-w", "window", default=None, metavar="W",
              help="Window whose golden rows to score (default: the version's hold-out window).")
@project_options
@json_option
@click.pass_context
def smoke(ctx: click.Context, version: str | None, window: str | None, as_json: bool) -> None:
    """Smoke-test VERSION (default: the live one); exit 65 if any check fails.

    Checks: digests verify; it loads; it scores the golden sample with
    outputs in range and no NaN; a missing column, a wrong dtype and an
    empty frame are rejected cleanly; latency per 1000 rows (CPU time on one
    thread, best of 5) and peak memory (bytes allocated while loading and
    scoring) stay within smoke.max_ms_per_1000_rows and smoke.max_memory_mb.

    \b
    Example:
        lowops smoke v0003
        lowops smoke --json
    """
    from lowops.commands.smoke import raise_if_failed
    from lowops.commands.smoke import smoke as smoke_test

    stage_ctx = open_project(ctx)
    report = smoke_test(stage_ctx, version, stage_ctx.window(window) if window else None)
    if as_json:
        print_json(report)
    else:
        for check in report["checks"]:
            click.echo(f"{'ok  ' if check['ok'] else 'FAIL'} {check['check']}: {check['detail']}")
    raise_if_failed(report)
    if not as_json:
        click.echo(f"{report['version']}: smoke test passed")
