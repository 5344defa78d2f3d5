"""The other slot at work: shadow and split (A/B) scoring, and the no-retraining path.

``deploy.mode: shadow`` scores every row with both slots (only the live score
is acted on); ``split`` serves a deterministic share of rows, chosen by a
hash of the entity key, from the challenger slot. Both write
``outputs/<window>/slots-<run>.csv`` with both scores and the slot that
served each row, and once labels exist log KPIs per slot
(``slot.<blue|green>.<metric>`` in ``logs/metrics.log``). A challenger staged
in the idle slot goes live when its slot KPIs beat the live slot's by
``compare.min_improvement`` with a bootstrap CI that excludes zero.

``static_path`` scores every labelled window with the very first version too
(``static.<metric>``), so the report can draw retraining against no retraining.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from lowops.io import deploy, registry, snapshots
from lowops.io import version_status as vstatus
from lowops.io.files import atomic_write
from lowops.io.logs import log_metric
from lowops.io.snapshots import Snapshot
from lowops.stages import compare
from lowops.stages import metrics as metric_fns
from lowops.stages.context import Context
from lowops.stages.smoke import score_frame
from lowops.windows import Window


def score_snapshot(ctx: Context, model: Any, meta: dict[str, Any], features: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Keys and scores of a feature snapshot, one row group at a time (memory bounded by chunk_rows)."""
    import pyarrow.parquet as pq

    key = ctx.config.entity_key
    columns = [c["name"] for c in meta["schema"]["columns"]]
    snapshots.verify_snapshot(features)
    parquet = pq.ParquetFile(features.file)
    keys, scores = [], []
    for batch in parquet.iter_batches(batch_size=ctx.config.compute.chunk_rows, columns=[key, *columns]):
        chunk = batch.to_pandas()
        keys.append(chunk[key].to_numpy())
        scores.append(score_frame(model, meta, chunk, f"window {features.window}"))
    return np.concatenate(keys), np.concatenate(scores)


def _labelled(ctx: Context, keys: np.ndarray, labels: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """For each key, its position and label, restricted to keys that have a label."""
    lab = snapshots.load(labels)
    mapping = pd.Series(lab[ctx.config.labels.target].to_numpy(), index=lab[ctx.config.entity_key].to_numpy())
    y = pd.Series(keys).map(mapping).to_numpy(dtype=float)
    keep = np.flatnonzero(~np.isnan(y))
    return keep, y[keep]


def static_path(ctx: Context, window: Window, features: Snapshot, labels: Snapshot, scored: Any) -> dict[str, Any]:
    """Log the first version's KPIs on this window as ``static.<metric>``."""
    name = ctx.config.model.name
    state = deploy.read_pointer(ctx.repo, name)
    if not state or not state["history"]:
        return {}
    first = str(state["history"][0]["to"])
    meta = registry.read_metadata(ctx.repo, name, first)
    if scored.version == first:
        keys, scores = scored.keys, scored.scores
    else:
        model, meta = registry.load_model(ctx.repo, name, first)
        keys, scores = score_snapshot(ctx, model, meta, features)
    keep, y = _labelled(ctx, keys, labels)
    if not len(keep):
        return {}
    threshold = float(meta["metrics"].get("threshold", ctx.config.train.threshold))
    values = metric_fns.compute(meta["task"], y, scores[keep], threshold)
    for metric, value in values.items():
        log_metric(ctx.repo, window=window.label, model=name, version=first, metric=f"static.{metric}",
                   value=value, rows=len(keep), run_id=ctx.run_id)
    primary = ctx.config.train.primary_metric
    return {"version": first, primary: values.get(primary)}


def split_share(keys: np.ndarray, salt: str) -> np.ndarray:
    """A deterministic number in [0, 1) per entity key: the same key always lands in the same slot."""
    return np.array([int.from_bytes(hashlib.sha256(f"{salt}:{k}".encode()).digest()[:8], "big") / 2**64
                     for k in keys])


def _unpaired(metric: str, task: str, y_a: np.ndarray, s_a: np.ndarray, y_b: np.ndarray, s_b: np.ndarray,
              *, threshold: float, resamples: int, confidence: float, seed: int) -> tuple[float, float, float]:
    """Gain of group a over group b (different rows) and its bootstrap CI, resampling each group."""
    sign = -1.0 if metric in metric_fns.LOWER_IS_BETTER else 1.0
    one = lambda y, s, w: compare._weighted_metric(metric, task, y, s, threshold, w)  # noqa: E731
    gain = sign * float(one(y_a, s_a, np.ones((1, len(y_a))))[0] - one(y_b, s_b, np.ones((1, len(y_b))))[0])
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, resamples, 50):
        batch = min(50, resamples - start)
        weights = []
        for n in (len(y_a), len(y_b)):
            idx = rng.integers(0, n, size=(batch, n)) + (np.arange(batch) * n)[:, None]
            weights.append(np.bincount(idx.ravel(), minlength=batch * n).reshape(batch, n))
        diffs.append(sign * (one(y_a, s_a, weights[0]) - one(y_b, s_b, weights[1])))
    values = np.concatenate(diffs)
    values = values[np.isfinite(values)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha]) if len(values) else (np.nan, np.nan)
    return gain, float(low), float(high)


def serve(ctx: Context, window: Window, features: Snapshot, labels: Snapshot | None, scored: Any) -> dict[str, Any]:
    """Shadow or split scoring of one window by the idle slot's version, and its per-slot KPIs."""
    from lowops.stages.ct import cooldown
    from lowops.stages.promote import gated_switch, mark_pending

    cfg, name, mode = ctx.config, ctx.config.model.name, ctx.config.deploy.mode
    state = deploy.read_pointer(ctx.repo, name)
    assert state is not None
    live_slot, idle = state["live"], deploy.idle_slot(state)
    live, challenger = deploy.slot_version(state, live_slot), deploy.slot_version(state, idle)
    if not challenger or challenger == live:
        ctx.log.event("slots", f"{mode}: the idle slot {idle} holds no challenger; only {live} scored")
        return {}
    model, meta = registry.load_model(ctx.repo, name, challenger)
    keys, ch_scores = score_snapshot(ctx, model, meta, features)
    if not np.array_equal(keys, scored.keys):
        raise AssertionError("the challenger scored the snapshot in another row order")
    to_challenger = (split_share(keys, cfg.deploy.split_salt) < cfg.deploy.split_share if mode == "split"
                     else np.zeros(len(keys), dtype=bool))
    frame = pd.DataFrame({
        cfg.entity_key: keys, "live_slot": live_slot, "live_version": live, "live_score": scored.scores,
        "challenger_slot": idle, "challenger_version": challenger, "challenger_score": ch_scores,
        "served_slot": np.where(to_challenger, idle, live_slot),
        "served_score": np.where(to_challenger, ch_scores, scored.scores),
    })
    keep: np.ndarray = np.array([], dtype=int)
    if labels is not None:
        keep, y = _labelled(ctx, keys, labels)
        frame["label"] = np.nan
        frame.loc[keep, "label"] = y
    path = ctx.repo / "outputs" / window.label / f"slots-{ctx.run_id}.csv"
    with atomic_write(path, binary=False) as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
    out: dict[str, Any] = {"mode": mode, "file": str(path.relative_to(ctx.repo)), "live": live,
                           "challenger": challenger, "challenger_rows": int(to_challenger.sum())}
    ctx.log.event("slots", f"{mode}: {challenger} (slot {idle}) scored {len(keys)} rows beside {live}; "
                  f"{int(to_challenger.sum())} served by the challenger -> {path.relative_to(ctx.repo)}")
    if labels is None or not len(keep):
        return out
    primary, task = cfg.train.primary_metric, meta["task"]
    threshold = float(meta["metrics"].get("threshold", cfg.train.threshold))
    served_ch = to_challenger[keep]
    groups = ({live_slot: (keep, scored.scores), idle: (keep, ch_scores)} if mode == "shadow" else
              {live_slot: (keep[~served_ch], scored.scores), idle: (keep[served_ch], ch_scores)})
    kpis: dict[str, dict[str, float]] = {}
    all_y = pd.Series(frame["label"]).to_numpy(dtype=float)
    for slot, (rows, scores) in groups.items():
        if len(rows) == 0:
            continue
        version = live if slot == live_slot else challenger
        kpis[slot] = metric_fns.compute(task, all_y[rows], scores[rows], threshold)
        for metric, value in kpis[slot].items():
            log_metric(ctx.repo, window=window.label, model=name, version=str(version),
                       metric=f"slot.{slot}.{metric}", value=value, rows=len(rows), run_id=ctx.run_id)
    out["kpis"] = kpis
    if len(kpis) < 2:
        return out
    cmp = cfg.compare
    if mode == "shadow":
        gain, low, high = compare.bootstrap_delta(primary, task, all_y[keep], ch_scores[keep], scored.scores[keep],
                                                  threshold=threshold, resamples=cmp.bootstrap,
                                                  confidence=cmp.confidence, seed=cmp.seed)
    else:
        ch_rows, live_rows = groups[idle][0], groups[live_slot][0]
        gain, low, high = _unpaired(primary, task, all_y[ch_rows], ch_scores[ch_rows], all_y[live_rows],
                                    scored.scores[live_rows], threshold=threshold, resamples=cmp.bootstrap,
                                    confidence=cmp.confidence, seed=cmp.seed)
    out.update(gain=gain, ci=[low, high])
    status = vstatus.current(ctx.repo, name, str(challenger))
    if not status or status["status"] != "staged":
        return out
    if gain >= cmp.min_improvement and low > 0 and not cooldown(ctx, window):
        reason = (f"{mode} slot KPIs at {window.label}: {challenger} beats {live} on {primary} by {gain:+.4f} "
                  f"({cmp.confidence:.0%} CI [{low:+.4f}, {high:+.4f}])")
        if cfg.governance.promote == "manual":
            mark_pending(ctx, str(challenger), reason=reason, window=window.label)
            out["outcome"] = f"{challenger} pending approval"
        else:
            result = gated_switch(ctx, str(challenger), by="lowops", reason=reason, window=window, action=mode)
            out["outcome"] = f"{challenger} promoted" if result.switched else f"{challenger} failed its smoke test"
    return out
