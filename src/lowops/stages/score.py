"""Score: the live model scores a window, chunk by chunk, into a predictions CSV.

Input is read one Parquet row group (``compute.chunk_rows`` rows) at a time,
so memory is bounded by the chunk size whatever the window's size. Rows in =
rows written: every input row gets exactly one output row.
"""

from __future__ import annotations

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


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a quote."""
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column].dtype):
            values = frame[column]
            text = values.astype(object)
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
            if risky.any():
                frame[column] = text.where(~risky, "'" + text.astype(str))
    return frame


def _predict(model: Any, task: str, chunk: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    if task == "classification":
        score = model.predict_proba(chunk)[:, 1]
        return score, None
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
    import pyarrow.parquet as pq

    cfg = ctx.config
    key = cfg.entity_key
    contract = meta["schema"]
    columns = [c["name"] for c in contract["columns"]]
    categorical = [c["name"] for c in contract["columns"] if c["kind"] == "categorical"]
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
    with atomic_write(path, binary=False) as handle:
        for index, batch in enumerate(parquet.iter_batches(batch_size=cfg.compute.chunk_rows,
                                                           columns=[key, *columns])):
            chunk = batch.to_pandas()
            stats = modeling.check_contract(chunk, contract, f"window {features.window}")
            for kind in totals:
                for name, count in stats[kind].items():
                    totals[kind][name] = totals[kind].get(name, 0) + count
            x = modeling.prepare_categoricals(chunk[columns], categorical)
            for c in contract["columns"]:
                if c["kind"] == "numeric" and not pd.api.types.is_numeric_dtype(x[c["name"]].dtype):
                    x[c["name"]] = pd.to_numeric(x[c["name"]], errors="coerce")
            score_values, _ = _predict(model, task, x)
            out = chunk[[key, *columns]].copy()
            out["score"] = score_values
            out["prediction"] = (score_values >= threshold).astype(int) if task == "classification" else score_values
            if label_map is not None:
                out["label"] = chunk[key].map(label_map).to_numpy()
            else:
                out["label"] = pd.Series([None] * len(chunk), dtype=object)
            out["model"] = cfg.model.name
            out["version"] = version
            out["slot"] = slot
            out["run_id"] = ctx.run_id
            out["scored_at"] = scored_at
            neutralise(out).to_csv(handle, header=index == 0, index=False, lineterminator="\n")
            keys.append(chunk[key].to_numpy())
            scores.append(np.asarray(score_values, dtype=float))
            rows += len(chunk)
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
