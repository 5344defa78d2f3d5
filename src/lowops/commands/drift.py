"""``lowops drift``: data drift, its impact on the live model, and model drift for one window.

A window never monitored is checked as the loop would check it, and its answer
becomes its record, ``monitoring/<window>/``. A window with a record is
re-checked as it was checked then: with the version that scored it and that
version's reference; the re-check goes to ``monitoring/<window>/recheck-<run>/``
beside the record, which stays as written, and the command answers with the
recorded verdict and whether the re-check agrees.
"""

from __future__ import annotations

from typing import Any

from lowops.commands import _background
from lowops.commands._run import locked, recorded, stage
from lowops.context import Context
from lowops.model.card import ModelCard
from lowops.monitoring.outputs import recorded_verdict
from lowops.monitoring.verdict import DriftVerdict, agreement
from lowops.stages.evaluate import scored_by
from lowops.stages.extract import current, extract_features, stored
from lowops.stages.monitor import monitor
from lowops.windows import Window, check_not_future


def _model(ctx: Context, window: Window, record: dict[str, Any] | None) -> tuple[Any, ModelCard]:
    """The version that scored the window (its predictions' run ledger), else the record's, else the live one."""
    version = scored_by(ctx, window.label) or (str(record["version"]) if record and record.get("version") else None)
    if version is None:
        model, card, _slot = ctx.load_live()
        return model, card
    return ctx.load_model(version)


def _as_recorded(record: dict[str, Any], recheck: DriftVerdict, run_id: str) -> DriftVerdict:
    """The recorded verdict, with the re-check and whether it agrees under ``details["recheck"]``."""
    again = {**recheck.details, "drift_that_matters": recheck.drift_that_matters, "model_drift": recheck.model_drift}
    differences = agreement(record, again)
    details = {**record, "recheck": {
        "run_id": run_id, "version": again.get("version"), "drift_that_matters": recheck.drift_that_matters,
        "model_drift": recheck.model_drift, "model_drift_basis": again.get("model_drift_basis"),
        "drifted": again.get("drifted", []), "evidence": list(recheck.evidence), "files": again.get("files", {}),
        "reference": again.get("reference"), "features": again.get("features", {}),
        "agrees": not differences, "differences": differences}}
    return DriftVerdict(record.get("window") or recheck.window, drift_that_matters=bool(record.get("drift_that_matters")),
                        model_drift=bool(record.get("model_drift")), evidence=tuple(record.get("evidence") or ()),
                        details=details)


def drift(ctx: Context, window: Window, *, sweetviz_report: bool = False) -> DriftVerdict:
    """Check one window (extracting it if not yet snapshotted), or re-check it beside its record.

    The window's Sweetviz report, when wanted (``sweetviz_report`` or ``drift.sweetviz.when``),
    is built in a background process once the check is committed; with ``sweetviz_report``
    this command waits for it.

    Returns:
        The window's verdict: for a window with a record, the recorded one, the re-check in
        ``details["recheck"]``.

    Raises:
        NotTrainedError: no version is live (and none scored the window).
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    try:
        with locked(ctx, f"lowops drift --window {window.label}"), recorded(ctx, "drift", window.label) as ledger:
            record = recorded_verdict(ctx.repo, window.label)
            model, card = _model(ctx, window, record)
            features = stored(ctx, window, "features")  # None too when made from other SQL or marts
            if features is None:
                with stage(ledger, "extract") as out:
                    features = extract_features(ctx, window)
                    out.update(features=features.version if features else None)
            if features is None:
                ledger.finish("empty")
                return DriftVerdict(window.label, details={"status": "empty"})
            labels = current(ctx, window, "labels")
            with stage(ledger, "monitor") as out:
                checked = monitor(ctx, window, features=features, model=model, card=card, labels=labels,
                                  recheck=record is not None, sweetviz_report=sweetviz_report)
                out.update(checked.ledger(), version=card.version)
                verdict = checked
                if record is not None and checked.details.get("enabled") is not False:
                    verdict = _as_recorded(record, checked, ledger.run_id)
                    out.update(recheck_of=record.get("run_id"), agrees=verdict.details["recheck"]["agrees"])
            ledger.finish("done")
            _background.start_report(ctx, checked)
            return verdict
    finally:
        # Asked for on the command line, the report is what the person waits for.
        _background.finish(wait=sweetviz_report)
