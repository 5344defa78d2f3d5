"""``lowops verify``: repository integrity."""

from __future__ import annotations

import click

from lowops.cli.common import each_model, json_option, load_only, print_json, project_options


@click.command()
@click.option("--repair", is_flag=True, help="Remove leftovers of interrupted writes (never anything complete).")
@project_options
@json_option
@click.pass_context
@each_model
def verify(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """Check every digest, manifest, pointer and ledger; exit 77 on any finding.

    \b
    Example:
        lowops verify || lowops verify --repair
    """
    from lowops.commands.verify import raise_if_findings
    from lowops.commands.verify import verify as check_repository

    project = load_only(ctx)
    findings, removed = check_repository(project, repair=repair)
    if as_json:
        print_json({"ok": not findings, "findings": [str(f) for f in findings],
                    "removed": [str(p) for p in removed]})
    else:
        for path in removed:
            click.echo(f"{'removed' if path.name.startswith('.tmp-') else 'repaired'} {path}")
        for finding in findings:
            click.echo(str(finding))
        if not findings:
            click.echo(f"{project.repo}: ok")
    raise_if_findings(project, findings)
