"""The other slot at work: shadow and split (A/B) scoring, and the no-retraining path.

``deploy.mode: shadow`` scores every row with both slots (only the live score
is acted on); ``split`` serves a deterministic share of rows, chosen by a
hash of the entity key, from the challenger slot (the score stage writes
each row as served; see :mod:`lowops.stages.score`). Both write
``outputs/<window>/slots-<run>.csv`` with both scores and the slot that
served each row, and once labels exist log KPIs per slot
(``slot.<blue|green>.<metric>`` in ``logs/metrics.log``). A challenger staged
in the idle slot goes live when its slot KPIs beat the live slot's by
``compare.min_improvement`` with a bootstrap CI that excludes zero.

``static_path`` scores every labelled window with the very first version too
(``static.<metric>``), so the report can draw retraining against no retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lowops.context import Context
from lowops.io import deploy, layout, snapshots
from lowops.io import version_status as vstatus
from lowops.io.files import atomic_write
from lowops.io.snapshots import Snapshot
from lowops.lifecycle import compare
from lowops.lifecycle.promote import gated_switch, mark_pending
from lowops.lifecycle.triggers import cooldown
from lowops.model import metrics as metric_fns
from lowops.model.card import ModelCard
from lowops.stages.score import ScoreResult, score_snapshot, split_share
from lowops.windows import Window


def _labelled(ctx: Context, keys: np.ndarray, labels: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """For each key, its position and label, restricted to keys that have a label."""
    lab = snapshots.load(labels)
    mapping = pd.Series(lab[ctx.config.labels.target].to_numpy(), index=lab[ctx.config.entity_key].to_numpy())
    y = pd.Series(keys).map(mapping).to_numpy(dtype=float)
    keep = np.flatnonzero(~np.isnan(y))
    return keep, y[keep]


def static_path(ctx: Context, window: Window, features: Snapshot, labels: Snapshot,
                scored: ScoreResult) -> dict[str, Any]:
    """Log the first version's KPIs on this window as ``static.<metric>``."""
    state = deploy.read_pointer(ctx.repo, ctx.name)
    if not state or not state["history"]:
        return {}
    first = str(state["history"][0]["to"])
    card = ctx.card(first)
    if scored.version == first:
        keys, scores = scored.keys, scored.scores
    else:
        model, card = ctx.load_model(first)
        keys, scores = score_snapshot(ctx, model, card, features)
    keep, y = _labelled(ctx, keys, labels)
    if not len(keep):
        return {}
    values = metric_fns.finite(metric_fns.compute(card.task, y, scores[keep], card.threshold, card.classes))
    for metric, value in values.items():
        ctx.metrics.log(window.label, first, f"static.{metric}", value, len(keep))
    primary = ctx.config.train.primary_metric
    return {"version": first, primary: values.get(primary)}


@dataclass
class _Serving:
    """One window scored by both slots."""

    mode: str
    live_slot: str
    idle: str
    live: str
    challenger: str
    keys: np.ndarray
    live_scores: np.ndarray
    challenger_scores: np.ndarray
    to_challenger: np.ndarray  # per row: served by the challenger


def _write_slots(ctx: Context, window: Window, serving: _Serving, labels: Snapshot | None
                 ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """``outputs/<window>/slots-<run>.csv``; returns the ledger entry, the labelled rows and every row's label."""
    s = serving
    # A multiclass model's score here is the probability of its most probable class.
    live, challenger = (x.max(axis=1) if x.ndim == 2 else x for x in (s.live_scores, s.challenger_scores))
    frame = pd.DataFrame({
        ctx.config.entity_key: s.keys, "live_slot": s.live_slot, "live_version": s.live,
        "live_score": live, "challenger_slot": s.idle, "challenger_version": s.challenger,
        "challenger_score": challenger,
        "served_slot": np.where(s.to_challenger, s.idle, s.live_slot),
        "served_score": np.where(s.to_challenger, challenger, live),
    })
    keep: np.ndarray = np.array([], dtype=int)
    if labels is not None:
        keep, y = _labelled(ctx, s.keys, labels)
        frame["label"] = np.nan
        frame.loc[keep, "label"] = y
    path = layout.slots_file(ctx.repo, window.label, ctx.run_id)
    with atomic_write(path, binary=False) as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
    served = int(s.to_challenger.sum())
    ctx.log.event("slots", f"{s.mode}: {s.challenger} (slot {s.idle}) scored {len(s.keys)} rows beside {s.live}; "
                  f"{served} served by the challenger -> {path.relative_to(ctx.repo)}")
    out = {"mode": s.mode, "file": str(path.relative_to(ctx.repo)), "live": s.live, "challenger": s.challenger,
           "challenger_rows": served}
    all_y = frame["label"].to_numpy(dtype=float) if "label" in frame else np.array([])
    return out, keep, all_y


def _slot_kpis(ctx: Context, window: Window, s: _Serving, card: ModelCard, keep: np.ndarray,
               all_y: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Each slot's KPIs on the labelled rows it scored (shadow: all; split: the rows it served)."""
    served_ch = s.to_challenger[keep]
    groups = ({s.live_slot: (keep, s.live_scores), s.idle: (keep, s.challenger_scores)} if s.mode == "shadow" else
              {s.live_slot: (keep[~served_ch], s.live_scores), s.idle: (keep[served_ch], s.challenger_scores)})
    kpis: dict[str, dict[str, float]] = {}
    for slot, (rows, scores) in groups.items():
        if len(rows) == 0:
            continue
        version = s.live if slot == s.live_slot else s.challenger
        kpis[slot] = metric_fns.finite(metric_fns.compute(card.task, all_y[rows], scores[rows], card.threshold,
                                                          card.classes))
        for metric, value in kpis[slot].items():
            ctx.metrics.log(window.label, version, f"slot.{slot}.{metric}", value, len(rows))
    return kpis, groups


def _gain(ctx: Context, s: _Serving, card: ModelCard, keep: np.ndarray, all_y: np.ndarray,
          groups: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float]:
    """The challenger's gain on the primary metric and its bootstrap CI (paired in shadow mode)."""
    cmp, primary = ctx.config.compare, ctx.config.train.primary_metric
    if s.mode == "shadow":
        return compare.bootstrap_delta(primary, card.task, all_y[keep], s.challenger_scores[keep],
                                       s.live_scores[keep], threshold=card.threshold, resamples=cmp.bootstrap,
                                       confidence=cmp.confidence, seed=cmp.seed)
    ch_rows, live_rows = groups[s.idle][0], groups[s.live_slot][0]
    return compare.unpaired_delta(primary, card.task, all_y[ch_rows], s.challenger_scores[ch_rows], all_y[live_rows],
                     s.live_scores[live_rows], threshold=card.threshold, resamples=cmp.bootstrap,
                     confidence=cmp.confidence, seed=cmp.seed)


def _promote_if_proven(ctx: Context, window: Window, s: _Serving, gain: float, low: float, high: float,
                       evidence: Path) -> str | None:
    """Switch (or leave pending) a staged challenger whose slot KPIs beat the live slot's."""
    cmp = ctx.config.compare
    status = vstatus.current(ctx.repo, ctx.name, s.challenger)
    if not status or status["status"] != "staged":
        return None
    if not (gain >= cmp.min_improvement and low > 0 and not cooldown(ctx, window)):
        return None
    reason = (f"{s.mode} slot KPIs at {window.label}: {s.challenger} beats {s.live} on "
              f"{ctx.config.train.primary_metric} by {gain:+.4f} ({cmp.confidence:.0%} CI [{low:+.4f}, {high:+.4f}])")
    if ctx.config.governance.promote == "manual":
        mark_pending(ctx, s.challenger, reason=reason, window=window.label, decision=evidence)
        return f"{s.challenger} pending approval"
    result = gated_switch(ctx, s.challenger, by="lowops", reason=reason, window=window, action=s.mode)
    return f"{s.challenger} promoted" if result.switched else f"{s.challenger} failed its smoke test"


def serve(ctx: Context, window: Window, features: Snapshot, labels: Snapshot | None,
          scored: ScoreResult) -> dict[str, Any]:
    """Shadow or split scoring of one window by the idle slot's version, and its per-slot KPIs."""
    cfg, mode = ctx.config, ctx.config.deploy.mode
    state = deploy.read_pointer(ctx.repo, ctx.name)
    assert state is not None
    live_slot, idle = state["live"], deploy.idle_slot(state)
    live, challenger = deploy.slot_version(state, live_slot), deploy.slot_version(state, idle)
    if not challenger or challenger == live:
        ctx.log.event("slots", f"{mode}: the idle slot {idle} holds no challenger; only {live} scored")
        return {}
    assert live is not None
    model, card = ctx.load_model(challenger)
    keys, ch_scores = score_snapshot(ctx, model, card, features)
    if not np.array_equal(keys, scored.keys):
        raise AssertionError("the challenger scored the snapshot in another row order")
    to_challenger = (split_share(keys, cfg.deploy.split_salt) < cfg.deploy.split_share if mode == "split"
                     else np.zeros(len(keys), dtype=bool))
    serving = _Serving(mode, live_slot, idle, live, challenger, keys, scored.scores, ch_scores, to_challenger)
    out, keep, all_y = _write_slots(ctx, window, serving, labels)
    if labels is None or not len(keep):
        return out
    kpis, groups = _slot_kpis(ctx, window, serving, card, keep, all_y)
    out["kpis"] = kpis
    if len(kpis) < 2:
        return out
    gain, low, high = _gain(ctx, serving, card, keep, all_y, groups)
    out.update(gain=gain, ci=[low, high])
    outcome = _promote_if_proven(ctx, window, serving, gain, low, high, ctx.repo / out["file"])
    if outcome is not None:
        out["outcome"] = outcome
    return out
