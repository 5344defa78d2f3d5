"""``lowops score``: the live model scores a window (extracting it first, in the same pass, if needed)."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import check_sql, locked, recorded, stage
from lowops.context import Context
from lowops.stages.extract import stored
from lowops.stages.score import extract_and_score
from lowops.stages.score import score as score_snapshot
from lowops.windows import Window, check_not_future


def score(ctx: Context, window: Window) -> dict[str, Any]:
    """Score a window with the live model into ``outputs/<window>/predictions-<run>.csv``.

    Returns:
        The window, ``status`` (done or empty), the predictions file, rows, version and run id.

    Raises:
        NotTrainedError: no version is live.
        IntegrityError: the live model fails its checks (before any data is read).
        DataError: the window breaks the model's schema contract.
    """
    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops score --window {window.label}"), recorded(ctx, "score", window.label) as ledger:
        # Verify and load the model before touching any data: a tampered model stops here.
        model, card, slot = ctx.load_live()
        # Stored versions only if made from today's SQL and marts; else extracted again below.
        features, labels = stored(ctx, window, "features"), stored(ctx, window, "labels")
        if features is None:
            # Not extracted yet: one pass, each chunk scored as it is staged (the ledger
            # shows the two stages running together).
            with stage(ledger, "extract") as extracted, stage(ledger, "score") as out:
                features, scored = extract_and_score(ctx, window, model, card, slot=slot, labels=labels,
                                                     keep_scores=False)
                extracted.update(features=features.version if features else None)
                if scored is not None:
                    out.update(scored.ledger(ctx.repo))
            if features is None:
                ctx.log.event("extract", f"{window.label} is empty: no feature rows (status=empty)")
                ledger.finish("empty")
                return {"window": window.label, "status": "empty", "run_id": ledger.run_id}
        else:
            with stage(ledger, "score") as out:
                scored = score_snapshot(ctx, features, model, card, slot=slot, labels=labels, keep_scores=False)
                out.update(scored.ledger(ctx.repo))
        assert scored is not None
        ledger.finish("done")
        return {"window": window.label, "status": "done", "predictions": str(scored.path),
                "rows": scored.rows, "version": scored.version, "run_id": ledger.run_id}
