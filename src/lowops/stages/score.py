"""Score: the live model scores a window, chunk by chunk, into a predictions CSV.

Input is read one Parquet row group (``compute.chunk_rows`` rows) at a time,
or, when the window is not extracted yet, each chunk as the extract stages it
(:func:`extract_and_score`), so memory is bounded by the chunk size whatever
the window's size. Rows in = rows written: every input row gets exactly one
output row.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lowops.errors import DataError
from lowops.io import snapshots
from lowops.io.files import atomic_write
from lowops.io.snapshots import Snapshot
from lowops.stages import modeling
from lowops.stages.context import Context
from lowops.stages.fast_predict import Scorer

if TYPE_CHECKING:
    from lowops.windows import Window

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def _reuse(ctx: Context, path: Path, features: Snapshot, version: str, key: str) -> ScoreResult:
    done = pd.read_csv(path, usecols=[key, "score", "version"])
    if len(done) != features.rows or (len(done) and done["version"].iloc[0] != version):
        from lowops.errors import IntegrityError

        raise IntegrityError(f"{path} exists but does not match this run ({len(done)} rows, "
                             f"{features.rows} expected); run `lowops verify`.")
    ctx.log.event("score", f"{path.relative_to(ctx.repo)} already complete for run {ctx.run_id}; reused")
    scored = done["score"].notna().to_numpy()
    return ScoreResult(path=path, rows=len(done), version=version, keys=done[key].to_numpy()[scored],
                       scores=done["score"].to_numpy(dtype=float)[scored], rejected=int((~scored).sum()))


def neutralise(table: Any) -> Any:
    """Prefix text cells that a spreadsheet would run as a formula (= + - @ tab CR) with a quote."""
    import pyarrow as pa
    import pyarrow.compute as pc

    starts = pa.array(_FORMULA_START, pa.string())
    for index, field_ in enumerate(table.schema):
        if not (pa.types.is_string(field_.type) or pa.types.is_large_string(field_.type)):
            continue
        column = table.column(index)
        first = pc.utf8_slice_codeunits(column, 0, 1)
        risky = pc.is_in(first, value_set=starts.cast(field_.type))
        if pc.any(risky).as_py():
            quoted = pc.binary_join_element_wise(pa.scalar("'", field_.type), column, pa.scalar("", field_.type))
            table = table.set_column(index, field_, pc.if_else(risky, quoted, column))
    return table


def model_input(batch: Any, contract: dict[str, Any]) -> pd.DataFrame:
    """The model's input frame from an Arrow batch: numbers as float, text as objects with None.

    This is the form the pipeline was fitted on (see ``modeling.prepare_categoricals``),
    built straight from Arrow buffers without a pandas round trip per cell.
    """
    columns = {}
    for column in contract["columns"]:
        values = batch.column(column["name"])
        if column["kind"] == "categorical":
            array = values.to_numpy(zero_copy_only=False)
            if array.dtype != object:
                array = array.astype(object)
            columns[column["name"]] = pd.Series(array, dtype=object, copy=False)
        else:
            array = values.to_numpy(zero_copy_only=False)
            if array.dtype == object:
                array = pd.to_numeric(pd.Series(array), errors="coerce").to_numpy(dtype=float)
            if array.dtype.kind == "f" and np.isinf(array).any():
                array = np.where(np.isinf(array), np.nan, array)  # policy: ±inf is a missing value
            columns[column["name"]] = array
    return pd.DataFrame(columns, copy=False)


def _count(batch: Any, contract: dict[str, Any], where: str = "this window") -> dict[str, Any]:
    """Missing and non-finite values and unknown categories of one chunk, counted by Arrow kernels.

    Raises:
        DataError: a numeric column holds text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    stats: dict[str, Any] = {"unknown_categories": {}, "missing_values": {}, "non_finite_values": {},
                             "unknown_examples": {}}
    for column in contract["columns"]:
        values = batch.column(column["name"])
        numeric_type = (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                        or pa.types.is_boolean(values.type) or pa.types.is_null(values.type))
        if column["kind"] == "numeric" and not numeric_type:
            modeling.check_contract(pd.DataFrame({column["name"]: values.to_pandas()}),
                                    {"columns": [column]}, where)
        missing = values.null_count
        if pa.types.is_floating(values.type):
            missing += int(pc.sum(pc.is_nan(values)).as_py() or 0)
            infinite = int(pc.sum(pc.is_inf(values)).as_py() or 0)
            if infinite:
                stats["non_finite_values"][column["name"]] = infinite
        if missing:
            stats["missing_values"][column["name"]] = missing
        if column["kind"] == "categorical":
            known = pa.array(column.get("categories", []), pa.string())
            present = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
            unseen = pc.and_(pc.invert(pc.is_in(present, value_set=known)), pc.is_valid(present))
            unknown = pc.sum(unseen).as_py()
            if unknown:
                stats["unknown_categories"][column["name"]] = int(unknown)
                stats["unknown_examples"][column["name"]] = pc.filter(present, unseen)[0].as_py()
    return stats


def _output_table(batch: Any, key: str, columns: list[str], task: str, score_values: np.ndarray,
                  threshold: float, key_values: np.ndarray, label_map: pd.Series | None,
                  constants: dict[str, str]) -> Any:
    """One chunk of the predictions CSV as an Arrow table."""
    import pyarrow as pa

    n = batch.num_rows
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.select([key, *columns])
    values = np.asarray(score_values, dtype=float)
    rejected = ~np.isfinite(values)  # rows the model could not score: empty score and prediction
    table = table.append_column("score", pa.array(values, pa.float64(), mask=rejected))
    prediction = ((values >= threshold).astype(np.int64) if task == "classification" else values)
    table = table.append_column("prediction", pa.array(prediction, mask=rejected))
    if label_map is not None and n:
        labels = pd.Series(key_values).map(label_map)
        table = table.append_column("label", pa.array(labels.to_numpy(dtype=float), from_pandas=True))
    else:
        table = table.append_column("label", pa.nulls(n, pa.float64()))
    for name, value in constants.items():
        table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), n))
    return neutralise(table)


_UNSCORABLE = ("infinity", "too large", "contains NaN")


def _predict(model: Any, task: str, chunk: pd.DataFrame) -> tuple[np.ndarray, None]:
    """Scores of a chunk; a row the model cannot score (a finite input such as 1e308 that
    overflows in preprocessing) gets NaN, found by halving the chunk, and is rejected."""
    try:
        if task == "classification":
            values = model.predict_proba(chunk)[:, 1]
        else:
            values = model.predict(chunk)
    except ValueError as exc:
        if not any(part in str(exc) for part in _UNSCORABLE):
            raise
        if len(chunk) <= 1:
            return np.full(len(chunk), np.nan), None
        middle = len(chunk) // 2
        return np.concatenate([_predict(model, task, chunk.iloc[:middle])[0],
                               _predict(model, task, chunk.iloc[middle:])[0]]), None
    return np.asarray(values, dtype=float), None


def pipeline_scores(batch: Any, model: Any, contract: dict[str, Any], task: str) -> np.ndarray:
    """The model's scores of one Arrow batch through the pipeline's own method."""
    score_values, _ = _predict(model, task, model_input(batch, contract))
    return np.asarray(score_values, dtype=float)


def scorer(model: Any, contract: dict[str, Any], task: str) -> Scorer:
    """What scores each batch: the same numbers as ``pipeline_scores``, faster where it can."""
    return Scorer(model, contract, task, functools.partial(pipeline_scores, model=model, contract=contract,
                                                           task=task))


def score_partition(batch: Any, scores: Scorer) -> np.ndarray:
    """The model's scores of one Arrow batch (what an engine runs per partition)."""
    return scores(batch)


def score(ctx: Context, features: Snapshot, model: Any, meta: dict[str, Any], *, slot: str,
          labels: Snapshot | None = None, keep_scores: bool = True) -> ScoreResult:
    """Score a window's feature snapshot with a loaded, verified model.

    Args:
        ctx: the command's context (holding the lock, with a run id).
        features: the window's feature snapshot.
        model: the deserialised pipeline.
        meta: the version's metadata (schema contract, version id).
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
    contract = meta["schema"]
    columns = [c["name"] for c in contract["columns"]]
    snapshots.verify_snapshot(features)
    parquet = pq.ParquetFile(features.file)
    available = set(parquet.schema_arrow.names)
    if key not in available:
        raise DataError(f"{features.file}: the entity key '{key}' is missing from the snapshot.")
    modeling.check_contract(pd.DataFrame(columns=list(available)), contract, f"window {features.window}")

    path = _predictions_path(ctx, features.window)
    if path.exists():
        # A resumed run whose scoring had completed: the file is whole (atomic
        # write), so read it back instead of scoring again.
        return _reuse(ctx, path, features, meta["version"], key)
    batches = parquet.iter_batches(batch_size=ctx.config.compute.chunk_rows, columns=[key, *columns])
    result = _score_batches(ctx, features.window, batches, model, meta, slot=slot, labels=labels,
                            empty=parquet.schema_arrow.empty_table(), keep_scores=keep_scores)
    return _every_row(result, features)


def _predictions_path(ctx: Context, window: str) -> Path:
    return ctx.repo / "outputs" / window / f"predictions-{ctx.run_id}.csv"


def _every_row(result: ScoreResult, features: Snapshot) -> ScoreResult:
    """``result`` if it scored every row of ``features``; rows in = rows written."""
    if result.rows != features.rows:
        raise DataError(f"Scored {result.rows} rows but the snapshot {features.version} holds {features.rows}.")
    return result


class _EmptyWindow(Exception):
    """The window streamed no rows: nothing to commit."""


def extract_and_score(ctx: Context, window: Window, model: Any, meta: dict[str, Any], *, slot: str,
                      labels: Snapshot | None = None,
                      keep_scores: bool = True) -> tuple[Snapshot | None, ScoreResult | None]:
    """Extract a window and score it in the same pass: each chunk is scored as it is staged.

    The data version is committed first, then the predictions; a failure or
    interruption before both leaves neither visible (each is staged). Marts that
    cannot be joined as streams are extracted in memory, then scored as usual.

    Returns:
        The window's data version and what scoring wrote; (None, None) for an empty window.
    """
    from lowops.stages.extract import FeatureStream
    from lowops.stages.merge import NotSorted

    stream = FeatureStream(ctx, window, contract=meta["schema"])

    def commit_features() -> None:
        if stream.commit() is None:
            raise _EmptyWindow

    try:
        batches = (table.combine_chunks().to_batches()[0] for table in stream.chunks())
        result = _score_batches(ctx, window.label, batches, model, meta, slot=slot, labels=labels,
                                empty=None, before_commit=commit_features, keep_scores=keep_scores)
    except _EmptyWindow:
        return None, None
    except (NotSorted, snapshots.SchemaDrift) as exc:
        features = stream.in_memory(exc)
        if features is None:
            return None, None
        return features, score(ctx, features, model, meta, slot=slot, labels=labels, keep_scores=keep_scores)
    except BaseException:
        stream.abort()
        raise
    assert stream.snapshot is not None
    return stream.snapshot, _every_row(result, stream.snapshot)


def _score_batches(ctx: Context, window: str, batches: Iterator[Any], model: Any, meta: dict[str, Any], *,
                   slot: str, labels: Snapshot | None, empty: Any,
                   before_commit: Callable[[], None] | None = None, keep_scores: bool = True) -> ScoreResult:
    """Score Arrow batches into ``outputs/<window>/predictions-<run>.csv``, committed last."""
    import pyarrow.csv as pa_csv

    cfg = ctx.config
    key = cfg.entity_key
    contract = meta["schema"]
    columns = [c["name"] for c in contract["columns"]]
    task = meta["task"]
    threshold = float(meta["metrics"].get("threshold", cfg.train.threshold))
    version = meta["version"]
    label_map = None
    if labels is not None:
        lab = snapshots.load(labels)
        label_map = pd.Series(lab[cfg.labels.target].to_numpy(), index=lab[key].to_numpy())

    path = _predictions_path(ctx, window)
    scored_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys, scores = [], []
    totals: dict[str, dict[str, Any]] = {"unknown_categories": {}, "missing_values": {}, "non_finite_values": {}}
    examples: dict[str, Any] = {}
    where = f"window {window}"
    rows = rejected = 0
    constants = {"model": cfg.model.name, "version": version, "slot": slot, "run_id": ctx.run_id,
                 "scored_at": scored_at}
    options = pa_csv.WriteOptions(quoting_style="needed")
    with atomic_write(path) as handle, contextlib.closing(
            ctx.engine.map_partitions(score_partition, batches, scorer(model, contract, task))) as scored:
        writer = None
        # The engine scores the chunks in order: locally, chunk k+1 is read while chunk k
        # is scored; on Dask, several chunks are scored at once on the workers.
        for batch, score_values in scored:
            stats = _count(batch, contract, where)
            for kind in totals:
                for name, count in stats[kind].items():
                    totals[kind][name] = totals[kind].get(name, 0) + count
            for name, example in stats["unknown_examples"].items():
                examples.setdefault(name, example)
            key_values = batch.column(key).to_numpy(zero_copy_only=False)
            table = _output_table(batch, key, columns, task, score_values, threshold, key_values,
                                  label_map, constants)
            if writer is None:
                writer = pa_csv.CSVWriter(handle, table.schema, write_options=options)
            writer.write_table(table)
            finite = np.isfinite(score_values)
            rejected += int((~finite).sum())
            if keep_scores:  # rejected rows are left out: evaluation and monitoring use scored rows
                keys.append(key_values[finite])
                scores.append(np.asarray(score_values, dtype=float)[finite])
            rows += batch.num_rows
        if writer is None and empty is not None:  # an empty snapshot still gets a header
            table = _output_table(empty.select([key, *columns]), key, columns, task, np.array([]), threshold,
                                  np.array([]), label_map, constants)
            writer = pa_csv.CSVWriter(handle, table.schema, write_options=options)
            writer.write_table(table)
        if writer is not None:
            writer.close()
        # Too many categories the model never saw: refused before the file is committed.
        limit = cfg.features.max_unknown_rate
        for name, count in totals["unknown_categories"].items():
            if rows and count / rows > limit:
                raise modeling.unknown_rate_error(where, name, count, rows, limit, examples.get(name))
        if before_commit is not None:
            before_commit()
    result = ScoreResult(path=path, rows=rows, version=version,
                         keys=np.concatenate(keys) if keys else np.array([]),
                         scores=np.concatenate(scores) if scores else np.array([]),
                         unknown_categories=totals["unknown_categories"],
                         missing_values=totals["missing_values"],
                         non_finite_values=totals["non_finite_values"],
                         unknown_rate={name: round(count / rows, 6) for name, count in
                                       totals["unknown_categories"].items()} if rows else {},
                         rejected=rejected)
    unknown = sum(result.unknown_categories.values())
    missing = sum(result.missing_values.values())
    non_finite = sum(result.non_finite_values.values())
    rel = path.relative_to(ctx.repo)
    rates = "".join(f"; unknown_rate {name}={count / rows:.4f} ({count} of {rows}; features.max_unknown_rate "
                    f"{cfg.features.max_unknown_rate:g})" for name, count in sorted(result.unknown_categories.items()))
    ctx.log.event("score", f"scored {rows} rows with {cfg.model.name} {version} (slot {slot}) -> {rel}; "
                  f"rows in {rows} = scored {rows - result.rejected} + rejected {result.rejected}; "
                  f"unknown categories {unknown} {result.unknown_categories or ''}{rates}; "
                  f"missing values {missing} {result.missing_values or ''}; "
                  f"non-finite values {non_finite} {result.non_finite_values or ''} (treated as missing)",
                  level="WARN" if result.rejected else "INFO")
    return result
