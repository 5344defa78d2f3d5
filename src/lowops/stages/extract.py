"""Extract: run each feature mart's SQL for a window, join on the entity key, snapshot it.

Labels come from their own SQL and are snapshotted separately, since they may
arrive windows after the features.

A data version records its *definition* (:func:`definition`: the model, the SQL
hashes, the marts), and a stored version is reused only while that is still the
project's (:func:`stored`, :func:`current`): after a SQL file changes or a mart
goes, every stage reads the data the current SQL makes, never an older extract.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lowops.context import Context
from lowops.errors import DataError
from lowops.io import snapshots
from lowops.io.snapshots import Snapshot
from lowops.model.card import Contract, DataUse
from lowops.model.contract import ContractCheck
from lowops.stages.merge import NotSorted, concat_tables, merge_sorted, sort_mart

if TYPE_CHECKING:
    import pandas as pd

    from lowops.windows import Window


@dataclass(frozen=True)
class Extracted:
    """The data versions one extract produced or found."""

    window: str
    features: Snapshot | None  # None: the window is empty
    labels: Snapshot | None    # None: labels not due yet or not arrived


def _provenance(ctx: Context, window: Window, sql: Mapping[str, object]) -> dict[str, Any]:
    start, end = window.bounds_naive_utc()
    return {
        "sql": sql,
        "params": {"window_start": start.isoformat() + "Z", "window_end": end.isoformat() + "Z"},
        "source": ctx.db.masked_url,
    }


def definition(ctx: Context, kind: str) -> dict[str, Any]:
    """What a data version of ``kind`` is made from besides the window (part of its id and manifest): the
    model (models sharing a repository never share data), the key, and each mart's name and SQL hash in
    join order; for labels, the labels SQL's hash and the target, classes and task that shape them."""
    cfg = ctx.config
    if kind == "features":
        return {"model": ctx.name, "entity_key": cfg.entity_key,
                "marts": [[name, sql.sha256] for name, sql in ctx.mart_sql().items()]}
    assert kind == "labels", kind
    return {"model": ctx.name, "entity_key": cfg.entity_key, "labels": ctx.label_sql().sha256,
            "target": cfg.labels.target, "classes": list(cfg.labels.classes), "task": cfg.model.task}


def _check_key(frame: pd.DataFrame, key: str, what: str, path: object) -> pd.DataFrame:
    if key not in frame.columns:
        raise DataError(
            f"The query {path} ({what}) returned no '{key}' column (entity_key in config); "
            f"it returned: {', '.join(map(str, frame.columns)) or 'no columns'}."
        )
    if frame[key].isna().any():
        raise DataError(f"The query {path} ({what}) returned {int(frame[key].isna().sum())} rows "
                        f"with an empty '{key}'; every row needs its entity key.")
    return frame


def _check_key_table(table: Any, key: str, what: str, path: object) -> Any:
    """:func:`_check_key` for an Arrow table."""
    if key not in table.column_names:
        raise DataError(
            f"The query {path} ({what}) returned no '{key}' column (entity_key in config); "
            f"it returned: {', '.join(map(str, table.column_names)) or 'no columns'}."
        )
    if table.column(key).null_count:
        raise DataError(f"The query {path} ({what}) returned {table.column(key).null_count} rows "
                        f"with an empty '{key}'; every row needs its entity key.")
    return table


def _dedupe(ctx: Context, frame: pd.DataFrame, key: str, what: str) -> pd.DataFrame:
    duplicated = frame.duplicated(subset=[key], keep="first")
    if duplicated.any():
        ctx.log.event("extract", f"{what}: {int(duplicated.sum())} duplicate '{key}' rows dropped "
                      "(one row per key, first kept)", level="WARN")
        frame = frame.loc[~duplicated]
    return frame


def _check_marts(ctx: Context, key: str, columns: dict[str, list[str]]) -> None:
    owners: dict[str, str] = {}
    for name, names in columns.items():
        sql = ctx.mart_sql()[name]
        if key not in names:
            raise DataError(
                f"The query {sql.path} (features.marts.{name}) returned no '{key}' column (entity_key in "
                f"config); it returned: {', '.join(map(str, names)) or 'no columns'}."
            )
        for column in names:
            if column != key and column in owners:
                raise DataError(
                    f"Column '{column}' is returned by both marts '{owners[column]}' and '{name}'; "
                    "rename it in one of the SQL files."
                )
            owners.setdefault(column, name)


def _contract_check(ctx: Context, window: Window, contract: Contract | None) -> ContractCheck | None:
    if contract is None:
        return None
    return ContractCheck(contract, f"window {window.label}", ctx.config.features.max_unknown_rate)


class FeatureStream:
    """A window's features streamed into a new data version, chunk by chunk.

    :meth:`chunks` yields each joined chunk (as Arrow) once it is written to the
    staged snapshot, so a consumer can score it at once; :meth:`commit` makes the
    version visible, :meth:`abort` drops it. :class:`NotSorted` or
    :class:`snapshots.SchemaDrift` from :meth:`chunks` mean the marts cannot be
    joined as streams: abort and use :func:`extract_features` (in memory).
    """

    def __init__(self, ctx: Context, window: Window, contract: Contract | None = None) -> None:
        self.ctx, self.window = ctx, window
        marts = ctx.mart_sql()
        sql_meta = {name: {"path": str(sql.path.relative_to(ctx.project.root))
                           if sql.path.is_relative_to(ctx.project.root) else str(sql.path),
                           "sha256": sql.sha256} for name, sql in marts.items()}
        self.provenance = _provenance(ctx, window, sql_meta)
        self.writer = snapshots.SnapshotWriter(ctx.repo, window.label, "features", self.provenance,
                                               definition(ctx, "features"))
        self.check = _contract_check(ctx, window, contract)
        self.contract = contract
        self.snapshot: Snapshot | None = None  # set by commit()

    def chunks(self) -> Iterator[Any]:
        """Extract, join, check and stage each chunk; yield it as an Arrow table."""
        ctx, key = self.ctx, self.ctx.config.entity_key
        label = self.window.label

        def duplicates(mart: str, count: int) -> None:
            ctx.log.event("extract", f"{label} {mart}: {count} duplicate '{key}' rows dropped "
                          "(one row per key, first kept)", level="WARN")

        streams = {name: ctx.db.stream_tables(sql, self.window, ctx.config.compute.chunk_rows)
                   for name, sql in ctx.mart_sql().items()}
        for chunk in merge_sorted(streams, key, duplicates, lambda cols: _check_marts(ctx, key, cols)):
            if chunk.column(key).null_count:
                raise DataError(f"{label}: {chunk.column(key).null_count} feature rows have an "
                                f"empty '{key}'; every row needs its entity key.")
            if self.check is not None:
                self.check.update(chunk)
            table = self.writer.write(chunk)
            if table is not None:
                yield table

    def commit(self) -> Snapshot | None:
        """The new (or identical, already stored) data version; None when the window is empty."""
        if self.writer.rows == 0:
            self.writer.abort()
            return None
        if self.check is not None:
            self.check.finish()
        self.snapshot = self.writer.commit()
        _log_version(self.ctx, self.window, self.snapshot)
        return self.snapshot

    def abort(self) -> None:
        self.writer.abort()

    def in_memory(self, reason: Exception) -> Snapshot | None:
        """After :meth:`chunks` found the marts unsorted: the join in memory (logged)."""
        key = self.ctx.config.entity_key
        self.writer.abort()
        self.ctx.log.event("extract", f"{self.window.label}: streaming join not possible ({type(reason).__name__}: "
                           f"{reason}); joining in memory — add ORDER BY {key} to every mart's SQL to stream",
                           level="WARN")
        snap = _extract_in_memory(self.ctx, self.window, self.provenance,
                                  _contract_check(self.ctx, self.window, self.contract))
        if snap is not None:
            _log_version(self.ctx, self.window, snap)
        return snap


def _log_version(ctx: Context, window: Window, snap: Snapshot) -> None:
    state = "new data version" if snap.created else "unchanged, data version already stored"
    ctx.log.event("extract", f"{window.label} features {snap.rows} rows: {snap.version} ({state})")


def extract_features(ctx: Context, window: Window, *, contract: Contract | None = None) -> Snapshot | None:
    """Extract, join and snapshot a window's features; None when the window is empty.

    The marts stream through a sorted merge join into the snapshot, one chunk
    at a time; a mart whose SQL does not order its rows by the key is joined
    in memory instead (logged, since memory then grows with the window).

    Args:
        ctx: the command's context.
        window: the window to extract.
        contract: the live model's schema contract; when given, rows that break it
            (a missing column, text in a numeric column, too many unknown categories)
            raise before the snapshot is committed, so bad data stores nothing.

    Raises:
        DataError: the rows break ``contract`` or lack the entity key.
    """
    stream = FeatureStream(ctx, window, contract)
    try:
        for _ in stream.chunks():
            pass
        return stream.commit()
    except (NotSorted, snapshots.SchemaDrift) as exc:
        return stream.in_memory(exc)
    except BaseException:
        stream.abort()
        raise


def _extract_in_memory(ctx: Context, window: Window, provenance: dict[str, Any],
                       check: ContractCheck | None = None) -> Snapshot | None:
    """Each mart read whole, sorted by the key and joined as the streams are (in Arrow)."""
    key = ctx.config.entity_key
    tables = {}
    for name, sql in ctx.mart_sql().items():
        table = ctx.db.read_table(sql, window, ctx.config.compute.chunk_rows)
        tables[name] = sort_mart(_check_key_table(table, key, f"features.marts.{name}", sql.path), key)

    def duplicates(mart: str, count: int) -> None:
        ctx.log.event("extract", f"{mart}: {count} duplicate '{key}' rows dropped (one row per key, first kept)",
                      level="WARN")

    joined = [chunk for chunk in merge_sorted({name: iter([table]) for name, table in tables.items()}, key,
                                              duplicates, lambda cols: _check_marts(ctx, key, cols))
              if chunk.num_rows]
    if not joined:
        return None
    if check is not None:
        for chunk in joined:
            check.update(chunk)
        check.finish()
    return snapshots.write_snapshot(ctx.repo, window.label, "features", joined[0] if len(joined) == 1 else
                                    concat_tables(joined), row_group_rows=ctx.config.compute.chunk_rows,
                                    provenance=provenance, definition=definition(ctx, "features"))


def extract_labels(ctx: Context, window: Window) -> Snapshot | None:
    """Extract and snapshot a window's labels; None when none have arrived."""
    key, target = ctx.config.entity_key, ctx.config.labels.target
    sql = ctx.label_sql()
    frame = ctx.db.read_frame(sql, window, ctx.config.compute.chunk_rows)
    frame = _check_key(frame, key, "labels.sql", sql.path)
    if target not in frame.columns:
        raise DataError(f"The query {sql.path} (labels.sql) returned no '{target}' column "
                        "(labels.target in config).")
    if frame.empty:
        ctx.log.event("labels", f"{window.label}: no labels yet")
        return None
    frame = _dedupe(ctx, frame[[key, target]], key, "labels")
    frame = _label_contract(ctx, window, frame.sort_values(key, kind="stable").reset_index(drop=True), sql.path)
    rel = str(sql.path.relative_to(ctx.project.root)) if sql.path.is_relative_to(ctx.project.root) else str(sql.path)
    snap = snapshots.write_snapshot(
        ctx.repo, window.label, "labels", frame, row_group_rows=ctx.config.compute.chunk_rows,
        provenance=_provenance(ctx, window, {"labels": {"path": rel, "sha256": sql.sha256}}),
        definition=definition(ctx, "labels"),
    )
    state = "new data version" if snap.created else "unchanged"
    ctx.log.event("labels", f"{window.label} labels {snap.rows} rows: {snap.version} ({state})")
    return snap


def _label_contract(ctx: Context, window: Window, frame: pd.DataFrame, sql: Path) -> pd.DataFrame:
    """Labels as lowops uses them: NULLs counted (and left out of every KPI); for classification, only the
    classes of ``labels.classes``, stored as 0 and 1 (multiclass: as the class's place in the list).

    Raises:
        DataError: a classification label outside ``labels.classes`` (the message names the values).
    """
    import numpy as np
    import pandas as pd

    cfg = ctx.config
    target, classes = cfg.labels.target, cfg.labels.classes
    values = frame[target]
    missing = int(values.isna().sum())
    if missing:
        ctx.log.event("labels", f"{window.label}: {missing} of {len(frame)} labels are NULL; those rows are left "
                      "out of every KPI", level="WARN")
    if cfg.model.task != "classification":
        return frame
    present = values.dropna()
    as_text = all(isinstance(c, str) for c in classes)
    seen = present.astype(str) if as_text else pd.to_numeric(present, errors="coerce")
    known = [str(c) for c in classes] if as_text else [float(c) for c in classes]
    outside = present[~seen.isin(known) | seen.isna()]
    if len(outside):
        shown = ", ".join(repr(v) for v in sorted(map(str, pd.unique(outside)))[:5])
        raise DataError(f"window {window.label}: labels.target '{target}' holds {shown} ({len(outside)} of "
                        f"{len(frame)} rows), outside labels.classes {list(classes)}; map them in {sql} (CASE WHEN …) "
                        + ("or list every class in labels.classes." if cfg.labels.multiclass
                           else "or set labels.classes to the negative and the positive class."))
    if list(known) == [0.0, 1.0]:
        return frame  # already what lowops uses: the stored labels are the source's, unchanged
    mapped = (seen.map({value: float(i) for i, value in enumerate(known)}).to_numpy(dtype=float)  # place in the list
              if cfg.labels.multiclass else np.where(seen == known[1], 1.0, 0.0))
    return frame.assign(**{target: pd.Series(mapped, index=present.index).reindex(frame.index)})


def extract(ctx: Context, window: Window, *, labels: bool = True,
            contract: Contract | None = None) -> Extracted:
    """Extract a window's features and, when due, its labels.

    Args:
        ctx: the command's context.
        window: the window to extract.
        labels: also extract labels if ``label_delay`` says they are complete.
        contract: the live model's schema contract, checked before anything is stored.

    Returns:
        The data versions produced or found.

    Raises:
        DataError: a query lacks the entity key or target, or two marts return one column.
        DatabaseError: the database failed after retries.
    """
    features = extract_features(ctx, window, contract=contract)
    if features is None:
        ctx.log.event("extract", f"{window.label} is empty: no feature rows (status=empty)")
        return Extracted(window.label, None, None)
    label_snap = extract_labels(ctx, window) if labels and ctx.labels_due(window) else None
    return Extracted(window.label, features, label_snap)


def _latest(ctx: Context, window: Window, kind: str) -> Snapshot | None:
    """The model's latest stored version of ``kind``, else the latest an older lowops stored (no model named)."""
    found = snapshots.latest(ctx.repo, window.label, kind, ctx.name)
    older = [] if found else [s for s in snapshots.versions(ctx.repo, window.label, kind) if "model" not in s.manifest]
    return found or (older[-1] if older else None)


def stored(ctx: Context, window: Window, kind: str) -> Snapshot | None:
    """The model's latest data version of ``kind`` for the window if made from today's definition, else None
    (made from other SQL or marts, or before manifests recorded a definition: logged, the caller extracts)."""
    snap, now = _latest(ctx, window, kind), definition(ctx, kind)
    if snap is None or snap.manifest.get("definition_sha256") == snapshots.definition_digest(now):
        return snap
    ctx.log.event("extract", f"{window.label} {kind}: the stored {snap.version} is not made from today's "
                  f"definition ({snapshots.changes(snap.manifest, now)}); extracting again")
    return None


def current(ctx: Context, window: Window, kind: str) -> Snapshot | None:
    """The window's data version of ``kind`` made from today's SQL, marts and model, extracted now if the
    stored one is not (labels once due); None: an empty window, or no labels yet. Every stage that reads
    a window's data again asks here (or :func:`stored`), so none reads data today's SQL did not make.

    Raises:
        DataError: a stored version is out of date and the database now returns nothing for the window.
    """
    found = stored(ctx, window, kind)
    if found is not None or (kind == "labels" and not ctx.labels_due(window)):
        return found
    snap = extract_features(ctx, window) if kind == "features" else extract_labels(ctx, window)
    old = _latest(ctx, window, kind) if snap is None else None
    if old is not None:
        raise DataError(f"window {window.label}: the stored {kind} {old.version} are not made from today's "
                        f"definition ({snapshots.changes(old.manifest, definition(ctx, kind))}), and the database now "
                        f"returns no {kind} for the window; restore the SQL they were made from, or leave "
                        f"{window.label} out (train.windows, --window).")
    return snap


def data_sql(ctx: Context, used: Sequence[DataUse]) -> dict[str, str]:
    """The SQL hashes the training data came from, as its versions' manifests record them (each mart's
    sha256, and ``labels``): all a model card's lineage may claim.

    Raises:
        DataError: a version records no definition, or the windows came from different SQL.
    """
    found: list[dict[str, str]] = []
    for use in used:
        feats, labels = (snapshots.find(ctx.repo, use.window, kind, version) for kind, version in
                         (("features", use.features), ("labels", use.labels)))
        defs = [s.manifest.get("definition") if s is not None else None for s in (feats, labels)]
        if not all(isinstance(d, Mapping) for d in defs):
            raise DataError(f"window {use.window}: a data version records no definition; retrain with --full.")
        found.append({**{str(n): str(h) for n, h in defs[0]["marts"]}, "labels": str(defs[1]["labels"])})  # type: ignore[index]
        if found[-1] != found[0]:
            raise DataError(f"window {use.window} was extracted from other SQL than {used[0].window}; "
                            "retrain with --full.")
    return found[0] if found else {}
