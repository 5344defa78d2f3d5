"""The Sweetviz compare report of a window, built apart from the loop.

The report costs more than the rest of a window's monitoring, and a person
reads it later, so it is never built inside a run: monitoring says a window
wants one (:attr:`DriftVerdict.sweetviz_folder`), and once the run's results
are committed a background process builds it here (``lowops report --sweetviz
W``, which also builds any window's on demand). It reads only what is already
stored (the window's snapshots, the version's reference rows), never the
database, and writes one file through the atomic write path; so it needs no
repository lock, and a run never waits for it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lowops import faults
from lowops.context import Context
from lowops.io import layout, registry, snapshots
from lowops.model.card import ModelCard
from lowops.monitoring import sweetviz
from lowops.monitoring.reference import sample_from_bytes
from lowops.stages.extract import stored
from lowops.windows import Window, parse_window

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


def _stored_sample(ctx: Context, card: ModelCard) -> pd.DataFrame | None:
    """The training range's row sample stored beside the version for Sweetviz (None if it has none)."""
    version = str(card.version)
    if not (layout.version_dir(ctx.repo, ctx.name, version) / layout.SAMPLE_FILE).is_file():
        return None
    return sample_from_bytes(registry.trusted_file(ctx.repo, ctx.name, version, layout.SAMPLE_FILE))


def _reference_rows(ctx: Context, window: Window, card: ModelCard) -> pd.DataFrame | None:
    """The rows ``drift.reference`` compares with: another window's snapshot, else the training sample."""
    settings = ctx.config.drift
    if settings.reference != "training":
        other = window.prev(1) if settings.reference == "previous" else parse_window(
            str(settings.baseline_window), ctx.config.windows.frequency, tz=ctx.config.windows.timezone)
        snap = stored(ctx, other, "features")
        if snap is not None:
            return snapshots.load(snap, columns=[ctx.config.entity_key, *card.schema.names])
    return _stored_sample(ctx, card)


def build_report(ctx: Context, window: Window, card: ModelCard, folder: Path) -> tuple[Path, int, int]:
    """Write ``folder/sweetviz_compare.html``: the window's rows (with labels if any) against the reference's.

    Both sides are seeded samples of at most ``drift.sweetviz.max_rows`` rows.

    Returns:
        The report's path, and the rows of the reference and of the window in it.

    Raises:
        DataError: the window has no stored feature snapshot, or the version no reference rows.
    """
    from lowops.errors import DataError

    cfg = ctx.config
    key, target = cfg.entity_key, cfg.labels.target
    features = stored(ctx, window, "features")
    if features is None:
        raise DataError(f"Window {window.label} has no stored feature snapshot from today's SQL; run "
                        f"`lowops run --window {window.label}` (or `lowops drift`) first.")
    reference_rows = _reference_rows(ctx, window, card)
    if reference_rows is None:
        raise DataError(f"Version {card.version} stores no reference sample ({layout.SAMPLE_FILE}) to compare "
                        "with; set drift.reference to previous or baseline, or retrain.")
    faults.checkpoint("sweetviz:build")
    current = snapshots.load(features, columns=[key, *card.schema.names])
    labels = stored(ctx, window, "labels")
    with_target = False
    if card.multiclass:  # Sweetviz takes a boolean or numeric target only: the classes are left out
        reference_rows, labels = reference_rows.drop(columns=[target], errors="ignore"), None
    if labels is not None:
        frame = snapshots.load(labels)
        frame = frame[frame[target].notna()]
        current = current.merge(frame[[key, target]], on=key, how="left")
        with_target = True
    rows, seed = cfg.drift.sweetviz.max_rows, cfg.drift.impact.seed
    cur = sweetviz.sample(current.drop(columns=[key]), rows, seed)
    ref = sweetviz.sample(reference_rows.drop(columns=[key], errors="ignore"), rows, seed)
    path = folder / layout.SWEETVIZ_FILE
    sweetviz.compare_report(ref, cur, path, target=target if with_target else None, window=window.label)
    return path, len(ref), len(cur)


def timed_report(ctx: Context, window: Window, card: ModelCard, folder: Path) -> tuple[Path, str]:
    """:func:`build_report`, and a one-line account of it for the log."""
    start = time.monotonic()
    path, ref_rows, cur_rows = build_report(ctx, window, card, folder)
    left_out = (f"; without the target {ctx.config.labels.target}: Sweetviz takes a boolean or numeric target, "
                "not a multiclass one" if card.multiclass else "")
    return path, (f"Sweetviz report of {window.label} ({card.version}; {ref_rows} reference rows, {cur_rows} "
                  f"window rows{left_out}) written to {path.relative_to(ctx.repo)} in {time.monotonic() - start:.1f} s")
