"""``lowops drift``: data drift, its impact on the live model, and model drift for one window."""

from __future__ import annotations

from lowops.commands._run import locked, recorded, stage
from lowops.context import Context
from lowops.monitoring.verdict import DriftVerdict
from lowops.stages.extract import current, extract_features, stored
from lowops.stages.monitor import monitor
from lowops.windows import Window, check_not_future


def drift(ctx: Context, window: Window) -> DriftVerdict:
    """Check one window against the live model (extracting it if not yet snapshotted).

    Raises:
        NotTrainedError: no version is live.
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    with locked(ctx, f"lowops drift --window {window.label}"), recorded(ctx, "drift", window.label) as ledger:
        model, card, _slot = ctx.load_live()
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
            verdict = monitor(ctx, window, features=features, model=model, card=card, labels=labels)
            out.update(verdict.ledger())
        ledger.finish("done")
        return verdict
