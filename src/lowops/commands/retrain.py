"""``lowops retrain``: the manual trigger of continuous training."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import locked, recorded, stage
from lowops.context import Context
from lowops.lifecycle.promote import last_window, who
from lowops.lifecycle.retrain import retrain_by_hand
from lowops.windows import Window, check_not_future


def retrain(ctx: Context, window: Window | None, *, by: str | None = None) -> dict[str, Any]:
    """Train on the windows ending at W, compare, and act like the pipeline would; W's labels are the hold-out.

    Without a window, the latest window a run completed is the hold-out.

    Returns:
        The new version, the winner, the outcome, the decision file, the window and the run id.
    """
    if window is None:
        window = ctx.window(last_window(ctx))
    check_not_future(window)
    ctx.progress.window(window.label)
    with locked(ctx, f"lowops retrain --window {window.label}"), recorded(ctx, "retrain", window.label) as ledger:
        with stage(ledger, "retrain") as out:
            result = retrain_by_hand(ctx, window, by=who(by))
            out.update({k: v for k, v in result.items() if k != "table"})
        ledger.finish("done")
        return {**result, "window": window.label, "run_id": ledger.run_id}
