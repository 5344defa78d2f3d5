"""Score: the live model scores a window, chunk by chunk, into a predictions CSV.

Input is read one Parquet row group (``compute.chunk_rows`` rows) at a time,
so memory is bounded by the chunk size whatever the window's size. Rows in =
rows written: every input row gets exactly one output row.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lowops.errors import DataError
from lowops.io import snapshots
from lowops.io.files import atomic_write
from lowops.io.snapshots import Snapshot
from lowops.stages import modeling
from lowops.stages.context import Context

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


def _reuse(ctx: Context, path: Path, features: Snapshot, version: str, key: str) -> ScoreResult:
    done = pd.read_csv(path, usecols=[key, "score", "version"])
    if len(done) != features.rows or (len(done) and done["version"].iloc[0] != version):
        from lowops.errors import IntegrityError

        raise IntegrityError(f"{path} exists but does not match this run ({len(done)} rows, "
                             f"{features.rows} expected); run `lowops verify`.")
    ctx.log.event("score", f"{path.relative_to(ctx.repo)} already complete for run {ctx.run_id}; reused")
    return ScoreResult(path=path, rows=len(done), version=version, keys=done[key].to_numpy(),
                       scores=done["score"].to_numpy(dtype=float))


def neutralise(table: Any) -> Any:
    """Prefix text cells that a spreadsheet would run as a formula (= + - @ tab CR) with a quote."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for index, field_ in enumerate(table.schema):
        if not (pa.types.is_string(field_.type) or pa.types.is_large_string(field_.type)):
            continue
        column = table.column(index)
        risky = None
        for prefix in _FORMULA_START:
            hit = pc.starts_with(column, prefix)
            risky = hit if risky is None else pc.or_(risky, hit)
        if risky is not None and pc.any(risky).as_py():
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
            columns[column["name"]] = array
    return pd.DataFrame(columns, copy=False)


def _count(batch: Any, contract: dict[str, Any]) -> dict[str, Any]:
    """Missing values and unknown categories of one chunk, counted by Arrow kernels.

    Raises:
        DataError: a numeric column holds text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    stats: dict[str, Any] = {"unknown_categories": {}, "missing_values": {}}
    for column in contract["columns"]:
        values = batch.column(column["name"])
        numeric_type = (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                        or pa.types.is_boolean(values.type) or pa.types.is_null(values.type))
        if column["kind"] == "numeric" and not numeric_type:
            modeling.check_contract(pd.DataFrame({column["name"]: values.to_pandas()}),
                                    {"columns": [column]}, "this window")
        missing = values.null_count
        if pa.types.is_floating(values.type):
            missing += int(pc.sum(pc.is_nan(values)).as_py() or 0)
        if missing:
            stats["missing_values"][column["name"]] = missing
        if column["kind"] == "categorical":
            known = pa.array(column.get("categories", []), pa.string())
            present = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
            unknown = pc.sum(pc.and_(pc.invert(pc.is_in(present, value_set=known)), pc.is_valid(present))).as_py()
            if unknown:
                stats["unknown_categories"][column["name"]] = int(unknown)
    return stats


def _output_table(batch: Any, key: str, columns: list[str], task: str, score_values: np.ndarray,
                  threshold: float, key_values: np.ndarray, label_map: pd.Series | None,
                  constants: dict[str, str]) -> Any:
    """One chunk of the predictions CSV as an Arrow table."""
    import pyarrow as pa

    n = batch.num_rows
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.select([key, *columns])
    table = table.append_column("score", pa.array(np.asarray(score_values, dtype=float), pa.float64()))
    prediction = ((np.asarray(score_values) >= threshold).astype(np.int64) if task == "classification"
                  else np.asarray(score_values, dtype=float))
    table = table.append_column("prediction", pa.array(prediction))
    if label_map is not None and n:
        labels = pd.Series(key_values).map(label_map)
        table = table.append_column("label", pa.array(labels.to_numpy(dtype=float), from_pandas=True))
    else:
        table = table.append_column("label", pa.nulls(n, pa.float64()))
    for name, value in constants.items():
        table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), n))
    return neutralise(table)


def _predict(model: Any, task: str, chunk: pd.DataFrame) -> tuple[np.ndarray, None]:
    if task == "classification":
        return model.predict_proba(chunk)[:, 1], None
    return np.asarray(model.predict(chunk), dtype=float), None


def score(ctx: Context, features: Snapshot, model: Any, meta: dict[str, Any], *, slot: str,
          labels: Snapshot | None = None) -> ScoreResult:
    """Score a window's feature snapshot with a loaded, verified model.

    Args:
        ctx: the command's context (holding the lock, with a run id).
        features: the window's feature snapshot.
        model: the deserialised pipeline.
        meta: the version's metadata (schema contract, version id).
        slot: the deploy slot the version sits in.
        labels: the window's labels, when known, copied into the output.

    Returns:
        The predictions file and the counts seen.

    Raises:
        DataError: the data breaks the model's schema contract.
    """
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

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

    snapshots.verify_snapshot(features)
    parquet = pq.ParquetFile(features.file)
    available = set(parquet.schema_arrow.names)
    if key not in available:
        raise DataError(f"{features.file}: the entity key '{key}' is missing from the snapshot.")
    modeling.check_contract(pd.DataFrame(columns=list(available)), contract, f"window {features.window}")

    path = ctx.repo / "outputs" / features.window / f"predictions-{ctx.run_id}.csv"
    if path.exists():
        # A resumed run whose scoring had completed: the file is whole (atomic
        # write), so read it back instead of scoring again.
        return _reuse(ctx, path, features, version, key)
    scored_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys, scores = [], []
    totals: dict[str, dict[str, int]] = {"unknown_categories": {}, "missing_values": {}}
    rows = 0
    constants = {"model": cfg.model.name, "version": version, "slot": slot, "run_id": ctx.run_id,
                 "scored_at": scored_at}
    batches = parquet.iter_batches(batch_size=cfg.compute.chunk_rows, columns=[key, *columns])
    with atomic_write(path) as handle, ThreadPoolExecutor(max_workers=1) as reader:
        writer = None
        # Read chunk k+1 (Parquet decoding releases the GIL) while chunk k is scored.
        pending = reader.submit(next, batches, None)
        while (batch := pending.result()) is not None:
            pending = reader.submit(next, batches, None)
            stats = _count(batch, contract)
            for kind in totals:
                for name, count in stats[kind].items():
                    totals[kind][name] = totals[kind].get(name, 0) + count
            x = model_input(batch, contract)
            score_values, _ = _predict(model, task, x)
            key_values = batch.column(key).to_numpy(zero_copy_only=False)
            table = _output_table(batch, key, columns, task, score_values, threshold, key_values,
                                  label_map, constants)
            if writer is None:
                writer = pa_csv.CSVWriter(handle, table.schema,
                                          write_options=pa_csv.WriteOptions(quoting_style="needed"))
            writer.write_table(table)
            keys.append(key_values)
            scores.append(np.asarray(score_values, dtype=float))
            rows += batch.num_rows
        if writer is None:  # an empty snapshot still gets a header
            empty = parquet.schema_arrow.empty_table().select([key, *columns])
            table = _output_table(empty, key, columns, task, np.array([]), threshold, np.array([]),
                                  label_map, constants)
            writer = pa_csv.CSVWriter(handle, table.schema,
                                      write_options=pa_csv.WriteOptions(quoting_style="needed"))
            writer.write_table(table)
        writer.close()
    if rows != features.rows:
        raise DataError(f"Scored {rows} rows but the snapshot {features.version} holds {features.rows}.")
    result = ScoreResult(path=path, rows=rows, version=version,
                         keys=np.concatenate(keys) if keys else np.array([]),
                         scores=np.concatenate(scores) if scores else np.array([]),
                         unknown_categories=totals["unknown_categories"],
                         missing_values=totals["missing_values"])
    unknown = sum(result.unknown_categories.values())
    missing = sum(result.missing_values.values())
    rel = path.relative_to(ctx.repo)
    ctx.log.event("score", f"scored {rows} rows with {cfg.model.name} {version} (slot {slot}) -> {rel}; "
                  f"unknown categories {unknown} {result.unknown_categories or ''}; "
                  f"missing values {missing} {result.missing_values or ''}")
    return result
