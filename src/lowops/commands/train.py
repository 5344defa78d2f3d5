"""``lowops train``: a new version on the windows ending at a window."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import check_sql, locked, recorded, stage
from lowops.context import Context
from lowops.stages.train import train as train_version
from lowops.windows import Window, check_not_future


def train(ctx: Context, window: Window, *, full: bool = False) -> dict[str, Any]:
    """Train and register a new version whose hold-out is ``window`` (live if it is the first).

    Returns:
        The version, whether it went live, its card and the run id.

    Raises:
        DataError: too few labelled windows, or a target that is not binary.
        ConfigError: the estimator or its parameters do not fit.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops train --window {window.label}"), recorded(ctx, "train", window.label) as ledger:
        with stage(ledger, "train") as out:
            result = train_version(ctx, window, full=full, reason="lowops train")
            out.update(version=result.version, live=result.went_live)
        ledger.finish("done")
        return {"version": result.version, "live": result.went_live, "card": result.card,
                "run_id": ledger.run_id}
