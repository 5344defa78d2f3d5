"""``lowops extract``: snapshot a window's features and labels as versioned Parquet."""

from __future__ import annotations

from typing import Any

from lowops.commands._run import check_sql, locked, recorded, stage
from lowops.context import Context
from lowops.stages.extract import extract as extract_window
from lowops.windows import Window, check_not_future


def extract(ctx: Context, window: Window, *, full_labels: bool = True) -> dict[str, Any]:
    """Snapshot a window's features and, when due, its labels.

    Returns:
        The window, the run id, and each kind's snapshot (None: empty window, or no labels yet).

    Raises:
        WindowError: the window lies in the future.
        LockHeldError: another run holds the repository.
    """
    check_not_future(window)
    check_sql(ctx)
    with locked(ctx, f"lowops extract --window {window.label}"), recorded(ctx, "extract", window.label) as ledger:
        with stage(ledger, "extract") as out:
            data = extract_window(ctx, window, labels=full_labels)
            out.update(features=data.features.version if data.features else None,
                       labels=data.labels.version if data.labels else None)
        ledger.finish("done" if data.features else "empty")
        return {"window": window.label, "features": data.features, "labels": data.labels,
                "run_id": ledger.run_id}
