"""``lowops drift``: data drift, its impact on the live model, and model drift for one window."""

from __future__ import annotations

from typing import Any

import click

from lowops.cli.common import each_model, json_option, open_project, print_json, project_options, window_option

# Not a sysexits code on purpose: drift is a finding, not a failure, and a
# pipeline must tell it apart from bad data (65) or a bug (1).
DRIFT_EXIT_CODE = 3


@click.command()
@window_option
@click.option("--fail-on-drift", is_flag=True,
              help=f"Exit {DRIFT_EXIT_CODE} when the window shows drift that matters or model drift "
                   "(the report is written either way).")
@click.option("--sweetviz", "sweetviz_report", is_flag=True,
              help="Build the Sweetviz compare report of the window too (by default only windows with "
                   "drift that matters or model drift get one; drift.sweetviz.when).")
@project_options
@json_option
@click.pass_context
@each_model
def drift(ctx: click.Context, window: str | None, fail_on_drift: bool, sweetviz_report: bool,
          as_json: bool) -> None:
    """Check a window for data drift, its impact on the live model, and model drift.

    Compares every feature with the reference (the live version's training
    range by default; see drift.reference in config), ranks features by
    importance-weighted and counterfactual impact, judges the primary KPI
    against T-1, T-2 and the hold-out benchmark (or its estimate while labels
    are late: CBPE for a classifier, DLE for a regressor), and writes
    repo/monitoring/W/. Drift is a result, not
    an error: the exit code is 0 unless --fail-on-drift is given.

    A window monitored before is re-checked with the version that scored it
    and that version's reference; the re-check goes to
    repo/monitoring/W/recheck-RUN/ beside the record, which is never
    overwritten, and the answer is the recorded verdict, saying whether the
    re-check agrees (--fail-on-drift goes by the recorded verdict).

    \b
    Example:
        lowops drift --window 2025-09
        lowops drift --window 2025-09 --json | jq '.features.monthly_charge'
        lowops drift --fail-on-drift || pipelines/retrain.sh
        lowops drift --window 2025-03 --sweetviz   # the visual comparison of a quiet window
    """
    from lowops.commands.drift import drift as check_window

    stage_ctx = open_project(ctx)
    verdict = check_window(stage_ctx, stage_ctx.window(window), sweetviz_report=sweetviz_report)
    details = verdict.details
    data: dict[str, Any] = {"window": verdict.window, "drift_that_matters": verdict.drift_that_matters,
            "model_drift": verdict.model_drift, "evidence": list(verdict.evidence),
            **{k: details.get(k) for k in ("status", "version", "run_id", "reference", "model_drift_basis",
                                           "prediction_drift", "drifted", "ranking", "kpi", "files",
                                           "features", "late_labels", "recheck") if k in details}}
    data.setdefault("features", {})
    if as_json:
        print_json(data)
    elif details.get("status") == "empty":
        click.echo(f"{verdict.window}: empty window, nothing to check")
    elif details.get("enabled") is False:
        click.echo(f"{verdict.window}: drift monitoring is off (drift.enabled: false in config)")
    else:
        _print(data)
    if fail_on_drift and (verdict.drift_that_matters or verdict.model_drift):
        ctx.exit(DRIFT_EXIT_CODE)


def _print(data: dict[str, Any]) -> None:
    kpi = data.get("kpi") or {}
    recorded = f", recorded by run {data.get('run_id')}" if data.get("recheck") else ""
    click.echo(f"{data['window']} against {data['version']} "
               f"({(data.get('reference') or {}).get('kind', 'training')} reference{recorded}):")
    click.echo(f"  drift that matters: {'YES' if data['drift_that_matters'] else 'no'}")
    value = kpi.get("value")
    shown = f"{kpi.get('metric')} {value:.4f} ({data.get('model_drift_basis')})" if value is not None else "no KPI yet"
    click.echo(f"  model drift:        {'YES' if data['model_drift'] else 'no'}  [{shown}]")
    click.echo(f"  drifted features:   {', '.join(data.get('drifted') or []) or 'none'}")
    click.echo("  rank feature               drifted    impact  counterfactual")
    features = data.get("features") or {}
    for name in (data.get("ranking") or [])[:10]:
        f = features[name]
        cf = f.get("counterfactual_impact")
        # Only drifted features are re-scored: the others have no counterfactual figure.
        shown_cf = f"{cf:>14.4f}" if cf is not None else f"{'-' if f['drifted'] else 'not drifted':>14}"
        click.echo(f"  {f['rank']:>4} {name:<22} {'yes' if f['drifted'] else 'no':<7} "
                   f"{f['impact'] or 0:>9.4f}  {shown_cf}")
    for line in data.get("evidence") or []:
        click.echo(f"  - {line}")
    files = data.get("files") or {}
    recheck = data.get("recheck")
    if files:
        click.echo(("  recorded: " if recheck else "  written: ") + ", ".join(sorted(files.values())))
    if recheck:
        said = "agrees" if recheck["agrees"] else "differs: " + "; ".join(recheck["differences"])
        click.echo(f"  re-check {recheck['run_id']} with {recheck['version']}: {said}")
        click.echo("  written: " + ", ".join(sorted((recheck.get("files") or {}).values())))
