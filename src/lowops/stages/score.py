"""Score: the live model scores a window, chunk by chunk, into a predictions CSV.

Input is read one Parquet row group (``compute.chunk_rows`` rows) at a time,
or, when the window is not extracted yet, each chunk as the extract stages it
(:func:`extract_and_score`), so memory is bounded by the chunk size whatever
the window's size. Rows in = rows written: every input row gets exactly one
output row.

With ``deploy.mode: split`` each row is written as it was served: the rows
whose key hashes into ``deploy.split_share`` get the other slot's score,
prediction, version and slot (:class:`Partner`). What the stage returns is
still the live version's score of every row, for evaluation and monitoring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.context import Context
from lowops.errors import DataError, IntegrityError
from lowops.io import deploy, layout, predictions, snapshots
from lowops.io.snapshots import Snapshot
from lowops.model.card import ModelCard
from lowops.model.contract import BatchCounts, check_batch, check_columns, count_batch, unknown_rate_error
from lowops.model.holdout import key_share
from lowops.model.predict import predict_batch, score_partition, scored_rows, scorer
from lowops.stages.extract import FeatureStream
from lowops.stages.merge import NotSorted

if TYPE_CHECKING:
    from lowops.windows import Window


@dataclass
class ScoreResult:
    """What one scoring pass wrote and saw."""

    path: Path
    rows: int
    version: str
    keys: np.ndarray
    scores: np.ndarray
    unknown_categories: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    # ±inf in a numeric feature: treated as missing (imputed), counted per column.
    non_finite_values: dict[str, int] = field(default_factory=dict)
    unknown_rate: dict[str, float] = field(default_factory=dict)
    # Rows the model could not score (its output was not finite): written with an
    # empty score and prediction, and left out of ``keys``/``scores``.
    rejected: int = 0

    def ledger(self, repo: Path) -> dict[str, Any]:
        """What the run ledger keeps of this pass."""
        return {"predictions": str(self.path.relative_to(repo)), "rows": self.rows, "version": self.version}


def split_share(keys: np.ndarray, salt: str) -> np.ndarray:
    """A deterministic number in [0, 1) per entity key: the same key always lands in the same slot."""
    return key_share(keys, salt)


@dataclass(frozen=True)
class Partner:
    """Split mode: the version in the other slot, and which rows it serves."""

    model: Any
    card: ModelCard
    slot: str
    salt: str
    share: float

    @property
    def version(self) -> str:
        return str(self.card.version)

    def serves(self, keys: np.ndarray) -> np.ndarray:
        """Per row: served by this version."""
        return split_share(keys, self.salt) < self.share


def split_partner(ctx: Context, version: str, slot: str) -> Partner | None:
    """The other slot's version, verified and loaded, when ``deploy.mode`` is split and it holds another version."""
    if ctx.config.deploy.mode != "split":
        return None
    state = deploy.read_pointer(ctx.repo, ctx.name)
    other = deploy.other_slot(slot)
    partner = deploy.slot_version(state, other) if state is not None else None
    if not partner or partner == version:
        return None
    model, card = ctx.load_model(partner)
    return Partner(model, card, other, ctx.config.deploy.split_salt, ctx.config.deploy.split_share)


def _reuse(ctx: Context, path: Path, features: Snapshot, model: Any, card: ModelCard,
           partner: Partner | None) -> ScoreResult:
    key, version = ctx.config.entity_key, str(card.version)
    done = predictions.read_scores(path, key, card.classes)
    served_by = set(done["version"].astype(str))
    expected = {version} | ({partner.version} if partner else set())
    if len(done) != features.rows or not served_by <= expected:
        raise IntegrityError(f"{path} exists but does not match this run ({len(done)} rows, "
                             f"{features.rows} expected); run `lowops verify`.")
    ctx.log.event("score", f"{path.relative_to(ctx.repo)} already complete for run {ctx.run_id}; reused")
    rejected = int(done["score"].isna().sum())
    if served_by <= {version}:
        scored = done["score"].notna().to_numpy()
        return ScoreResult(path=path, rows=len(done), version=version, keys=done[key].to_numpy()[scored],
                           scores=predictions.score_matrix(done, card.classes)[scored], rejected=rejected)
    # Split mode: the file holds what each row was served; evaluation and monitoring
    # need the live version's score of every row, so score the snapshot again.
    keys, scores = score_snapshot(ctx, model, card, features)
    finite = scored_rows(scores)
    return ScoreResult(path=path, rows=len(done), version=version, keys=keys[finite], scores=scores[finite],
                       rejected=rejected)


def score(ctx: Context, features: Snapshot, model: Any, card: ModelCard, *, slot: str,
          labels: Snapshot | None = None, keep_scores: bool = True) -> ScoreResult:
    """Score a window's feature snapshot with a loaded, verified model.

    Args:
        ctx: the command's context (holding the lock, with a run id).
        features: the window's feature snapshot.
        model: the deserialised pipeline.
        card: the version's model card (schema contract, version id).
        slot: the deploy slot the version sits in.
        labels: the window's labels, when known, copied into the output.
        keep_scores: return every row's key and score (evaluation and monitoring need
            them); without, memory does not grow with the window at all.

    Returns:
        The predictions file and the counts seen.

    Raises:
        DataError: the data breaks the model's schema contract.
    """
    import pyarrow.parquet as pq

    key = ctx.config.entity_key
    snapshots.verify_snapshot(features)
    parquet = pq.ParquetFile(features.file)
    available = set(parquet.schema_arrow.names)
    if key not in available:
        raise DataError(f"{features.file}: the entity key '{key}' is missing from the snapshot.")
    check_columns(available, card.schema, f"window {features.window}")
    partner = split_partner(ctx, str(card.version), slot)
    if partner is not None:
        check_columns(available, partner.card.schema, f"window {features.window} ({partner.version})")

    path = layout.predictions_file(ctx.repo, features.window, ctx.run_id)
    if path.exists():
        # A resumed run whose scoring had completed: the file is whole (atomic
        # write), so read it back instead of scoring again.
        return _reuse(ctx, path, features, model, card, partner)
    columns = list(dict.fromkeys([key, *card.schema.names, *(partner.card.schema.names if partner else [])]))
    batches = parquet.iter_batches(batch_size=ctx.config.compute.chunk_rows, columns=columns)
    result = _score_batches(ctx, features.window, batches, model, card, slot=slot, labels=labels,
                            empty=parquet.schema_arrow.empty_table(), keep_scores=keep_scores, partner=partner)
    return _every_row(result, features)


def _every_row(result: ScoreResult, features: Snapshot) -> ScoreResult:
    """``result`` if it scored every row of ``features``; rows in = rows written."""
    if result.rows != features.rows:
        raise DataError(f"Scored {result.rows} rows but the snapshot {features.version} holds {features.rows}.")
    return result


class _EmptyWindow(Exception):
    """The window streamed no rows: nothing to commit."""


def extract_and_score(ctx: Context, window: Window, model: Any, card: ModelCard, *, slot: str,
                      labels: Snapshot | None = None,
                      keep_scores: bool = True) -> tuple[Snapshot | None, ScoreResult | None]:
    """Extract a window and score it in the same pass: each chunk is scored as it is staged.

    The data version is committed first, then the predictions; a failure or
    interruption before both leaves neither visible (each is staged). Marts that
    cannot be joined as streams are extracted in memory, then scored as usual.

    Returns:
        The window's data version and what scoring wrote; (None, None) for an empty window.
    """
    stream = FeatureStream(ctx, window, contract=card.schema)
    partner = split_partner(ctx, str(card.version), slot)

    def commit_features() -> None:
        if stream.commit() is None:
            raise _EmptyWindow

    try:
        batches = (table.combine_chunks().to_batches()[0] for table in stream.chunks())
        result = _score_batches(ctx, window.label, batches, model, card, slot=slot, labels=labels,
                                empty=None, before_commit=commit_features, keep_scores=keep_scores,
                                partner=partner)
    except _EmptyWindow:
        return None, None
    except (NotSorted, snapshots.SchemaDrift) as exc:
        features = stream.in_memory(exc)
        if features is None:
            return None, None
        return features, score(ctx, features, model, card, slot=slot, labels=labels, keep_scores=keep_scores)
    except BaseException:
        stream.abort()
        raise
    assert stream.snapshot is not None
    return stream.snapshot, _every_row(result, stream.snapshot)


@dataclass
class _Tally:
    """What scoring saw across a window's chunks."""

    counts: BatchCounts = field(default_factory=BatchCounts)
    keys: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    rejected: int = 0

    def add(self, batch: Any, key_values: np.ndarray, score_values: np.ndarray, served: np.ndarray,
            counts: BatchCounts, keep_scores: bool) -> None:
        self.counts.add(counts)
        self.rejected += int((~scored_rows(served)).sum())
        finite = scored_rows(score_values)
        if keep_scores:  # rejected rows are left out: evaluation and monitoring use scored rows
            self.keys.append(key_values[finite])
            self.scores.append(np.asarray(score_values, dtype=float)[finite])
        self.rows += batch.num_rows

    def check_unknown(self, where: str, limit: float) -> None:
        """Too many categories the model never saw: refused before the file is committed."""
        for name, count in self.counts.unknown_categories.items():
            if self.rows and count / self.rows > limit:
                raise unknown_rate_error(where, name, count, self.rows, limit,
                                         self.counts.unknown_examples.get(name))

    def result(self, path: Path, version: str) -> ScoreResult:
        rows, unknown = self.rows, self.counts.unknown_categories
        return ScoreResult(path=path, rows=rows, version=version,
                           keys=np.concatenate(self.keys) if self.keys else np.array([]),
                           scores=np.concatenate(self.scores) if self.scores else np.array([]),
                           unknown_categories=unknown, missing_values=self.counts.missing_values,
                           non_finite_values=self.counts.non_finite_values,
                           unknown_rate={name: round(count / rows, 6) for name, count in unknown.items()} if rows
                           else {}, rejected=self.rejected)


def _label_map(ctx: Context, labels: Snapshot | None) -> predictions.LabelMap | None:
    if labels is None:
        return None
    key, target = ctx.config.entity_key, ctx.config.labels.target
    return predictions.LabelMap.of_table(snapshots.load_table(labels, [key, target]), key, target)


@dataclass
class _Served:
    """One chunk as it was served: score, the threshold its prediction used, and per-row version and slot."""

    scores: np.ndarray
    threshold: float | np.ndarray
    per_row: dict[str, np.ndarray]


def _serve(batch: Any, key_values: np.ndarray, live: np.ndarray, card: ModelCard, slot: str,
           partner: Partner | None) -> _Served:
    """What each row of a chunk is served: the live score, or in split mode the partner's for its share."""
    if partner is None:
        return _Served(live, card.threshold, {})
    import pyarrow as pa

    check_columns(set(batch.schema.names), partner.card.schema, f"{partner.version} in split mode")
    routed = partner.serves(key_values)
    served = np.array(live, dtype=float, copy=True)
    if routed.any():
        served[routed] = predict_batch(batch.filter(pa.array(routed)), partner.model, partner.card.schema,
                                       partner.card.task)
    return _Served(served, np.where(routed, partner.card.threshold, card.threshold),
                   {"version": np.where(routed, partner.version, str(card.version)),
                    "slot": np.where(routed, partner.slot, slot)})


def _score_batches(ctx: Context, window: str, batches: Iterator[Any], model: Any, card: ModelCard, *,
                   slot: str, labels: Snapshot | None, empty: Any,
                   before_commit: Callable[[], None] | None = None, keep_scores: bool = True,
                   partner: Partner | None = None) -> ScoreResult:
    """Score Arrow batches into ``outputs/<window>/predictions-<run>.csv``, committed last."""
    key, columns, where = ctx.config.entity_key, card.schema.names, f"window {window}"
    version = str(card.version)
    label_map = _label_map(ctx, labels)
    path = layout.predictions_file(ctx.repo, window, ctx.run_id)
    constants = {"model": ctx.name, "version": version, "slot": slot, "run_id": ctx.run_id,
                 "scored_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    tally = _Tally()
    with predictions.writing(path) as out, contextlib.closing(
            ctx.engine.map_partitions(score_partition, batches, scorer(model, card.schema, card.task))) as scored:
        # The engine scores the chunks in order: locally, chunk k+1 is read while chunk k
        # is scored; on Dask, several chunks are scored at once on the workers.
        for batch, score_values in scored:
            counts = count_batch(batch, card.schema, where)
            key_values = batch.column(key).to_numpy(zero_copy_only=False)
            served = _serve(batch, key_values, score_values, card, slot, partner)
            out.write(predictions.output_table(batch, key, columns, card.task, served.scores, served.threshold,
                                               key_values, label_map, constants, per_row=served.per_row,
                                               classes=card.classes))
            tally.add(batch, key_values, score_values, served.scores, counts, keep_scores)
        if not out.started and empty is not None:  # an empty snapshot still gets a header
            out.write(predictions.output_table(empty.select([key, *columns]), key, columns, card.task,
                                               np.array([]), card.threshold, np.array([]), label_map, constants,
                                               classes=card.classes))
        out.close()
        tally.check_unknown(where, ctx.config.features.max_unknown_rate)
        if before_commit is not None:
            before_commit()
    result = tally.result(path, version)
    _log_scored(ctx, result, slot, partner)
    return result


def _log_scored(ctx: Context, result: ScoreResult, slot: str, partner: Partner | None) -> None:
    rows, limit = result.rows, ctx.config.features.max_unknown_rate
    unknown = sum(result.unknown_categories.values())
    missing = sum(result.missing_values.values())
    non_finite = sum(result.non_finite_values.values())
    rates = "".join(f"; unknown_rate {name}={count / rows:.4f} ({count} of {rows}; features.max_unknown_rate "
                    f"{limit:g})" for name, count in sorted(result.unknown_categories.items()))
    split = (f"; split: {partner.version} (slot {partner.slot}) served the rows whose key hashes below "
             f"{partner.share:g}" if partner else "")
    ctx.log.event("score", f"scored {rows} rows with {ctx.name} {result.version} (slot {slot}){split} -> "
                  f"{result.path.relative_to(ctx.repo)}; "
                  f"rows in {rows} = scored {rows - result.rejected} + rejected {result.rejected}; "
                  f"unknown categories {unknown} {result.unknown_categories or ''}{rates}; "
                  f"missing values {missing} {result.missing_values or ''}; "
                  f"non-finite values {non_finite} {result.non_finite_values or ''} (treated as missing)",
                  level="WARN" if result.rejected else "INFO")


def score_snapshot(ctx: Context, model: Any, card: ModelCard, features: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Keys and scores of a feature snapshot, one row group at a time (memory bounded by chunk_rows), each
    Arrow batch scored as :func:`score` scores it: the fast path where the model allows, no pandas frame.

    Raises:
        DataError: the snapshot breaks the model's schema contract.
    """
    import pyarrow.parquet as pq

    key, where = ctx.config.entity_key, f"window {features.window}"
    snapshots.verify_snapshot(features)
    parquet = pq.ParquetFile(features.file)
    check_columns(set(parquet.schema_arrow.names), card.schema, where)
    score_batch = scorer(model, card.schema, card.task)
    keys, scores = [], []
    for batch in parquet.iter_batches(batch_size=ctx.config.compute.chunk_rows, columns=[key, *card.schema.names]):
        check_batch(batch, card.schema, where)
        keys.append(batch.column(key).to_numpy(zero_copy_only=False))
        scores.append(score_batch(batch))
    return np.concatenate(keys), np.concatenate(scores)
