"""Alerts from a window's verdict: drift, model drift and prediction drift, retraining or not.

A team may want to hear about drift and retrain by hand (``triggers.data_drift: false``,
say): the alert follows what monitoring found, and its message says whether a trigger
retrains on it. Without a verdict (``drift.enabled: false``), model drift is what the
KPI trigger found.
"""

from __future__ import annotations

from lowops.context import Context
from lowops.io import layout
from lowops.lifecycle.notify import notify
from lowops.lifecycle.triggers import Trigger
from lowops.monitoring.verdict import DriftVerdict
from lowops.windows import Window


def found(window: Window, verdict: DriftVerdict | None, fired: list[Trigger]) -> dict[str, str]:
    """What to alert on at ``window``: event -> evidence."""
    if verdict is None:
        kpi = [str(t) for t in fired if t.name == "model_drift"]
        return {"model_drift": "; ".join(kpi)} if kpi else {}
    evidence = "; ".join(verdict.evidence) or "see the monitoring folder"
    out: dict[str, str] = {}
    if verdict.drift_that_matters:
        out["drift"] = f"drift that matters at {window.label}: {evidence}"
    said = ([f"monitoring verdict at {window.label}: {evidence}"] if verdict.model_drift else []) \
        + list(verdict.late_model_drift)
    if said:
        out["model_drift"] = "; ".join(said)
    if verdict.details.get("prediction_drift"):
        psi = (verdict.details.get("kpi") or {}).get("prediction_psi")
        out["prediction_drift"] = f"the score distribution moved at {window.label}" + \
            (f" (PSI {psi:.4f})" if isinstance(psi, float) else "")
    return out


def alert(ctx: Context, window: Window, live: str, verdict: DriftVerdict | None, fired: list[Trigger]) -> list[str]:
    """Send one notification per event found at ``window``; the events, in order."""
    retrains = {"drift": "data_drift", "model_drift": "model_drift"}
    events = found(window, verdict, fired)
    for event, evidence in events.items():
        trigger = retrains.get(event)
        action = ("a retraining trigger fired on it" if any(t.name == trigger for t in fired)
                  else "no trigger retrains on it (alert only)")
        notify(ctx, event, f"{event.replace('_', ' ')} at {window.label} ({ctx.name} {live})",
               f"{evidence}\n\n{action}\n\nMonitoring: {layout.monitoring_dir(ctx.repo, window.label)}\n"
               f"Metrics: {layout.metrics_log(ctx.repo)}", window=window.label)
    return list(events)
