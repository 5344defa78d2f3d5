"""The predictions CSV, ``outputs/<window>/predictions-<run>.csv``: its columns, and reading it back.

One row per input row: the entity key, the features the model used, score,
prediction, label (empty until known), model, version, slot, run id and the
time scored. Score, prediction, version and slot are what the row was served
(in ``deploy.mode: split`` a share of rows is served by the other slot). Text that a spreadsheet would run as a formula is quoted. The
file is written through one atomic write (committed last, after every chunk);
a resumed run and late labels read it back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.io.files import atomic_write
from lowops.model.metrics import class_name

if TYPE_CHECKING:
    import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class LabelMap:
    """The window's labels by entity key, looked up with Arrow's hash kernels (no pandas on the scoring path)."""

    keys: Any  # pyarrow.Array of the labelled entities' keys, each once (the label contract deduplicates)
    values: np.ndarray  # float: each key's label (a class's place for multiclass)

    @classmethod
    def of_table(cls, table: Any, key: str, target: str) -> LabelMap:
        """From a labels snapshot's Arrow table."""
        values = table.column(target).to_numpy(zero_copy_only=False).astype(float)
        return cls(table.column(key).combine_chunks(), values)

    def lookup(self, key_values: np.ndarray) -> np.ndarray:
        """Each key's label, NaN where the key has none (or its type is not the labels' key type)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = pa.array(key_values)
        keys = self.keys
        if keys.type != wanted.type:
            try:
                keys = keys.cast(wanted.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return np.full(len(key_values), np.nan)
        at = pc.index_in(wanted, value_set=keys)
        found = at.is_valid().to_numpy(zero_copy_only=False)
        places = pc.fill_null(at, 0).to_numpy(zero_copy_only=False)
        return np.where(found, self.values[places] if len(self.values) else np.nan, np.nan)


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


def output_table(batch: Any, key: str, columns: list[str], task: str, score_values: np.ndarray,
                 threshold: float | np.ndarray, key_values: np.ndarray, label_map: LabelMap | None,
                 constants: dict[str, str], per_row: dict[str, np.ndarray] | None = None,
                 classes: Sequence[int | str] = ()) -> Any:
    """One chunk of the predictions CSV as an Arrow table.

    A row whose score is not finite (the model could not score it) gets an
    empty score and prediction. ``per_row`` replaces a constant column (version,
    slot) by one value per row, in the same place: split mode's served version.
    With more than two ``classes`` (multiclass) ``score_values`` holds one column
    per class: ``prediction`` is the most probable class, ``score`` its probability,
    ``label`` the class, and one ``score_<class>`` column per class follows ``label``.
    """
    import pyarrow as pa

    n = batch.num_rows
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    table = table.select([key, *columns])
    if len(classes) > 2:
        table = _multiclass_columns(table, np.asarray(score_values, dtype=float).reshape(n, len(classes)),
                                    key_values, label_map, classes)
        return _constants(table, n, constants, per_row)
    values = np.asarray(score_values, dtype=float)
    rejected = ~np.isfinite(values)
    table = table.append_column("score", pa.array(values, pa.float64(), mask=rejected))
    prediction = ((values >= threshold).astype(np.int64) if task == "classification" else values)
    table = table.append_column("prediction", pa.array(prediction, mask=rejected))
    if label_map is not None and n:
        labels = label_map.lookup(key_values)
        table = table.append_column("label", pa.array(labels, pa.float64(), mask=np.isnan(labels)))
    else:
        table = table.append_column("label", pa.nulls(n, pa.float64()))
    return _constants(table, n, constants, per_row)


def score_column(name: int | str) -> str:
    """The predictions CSV's column of one class's probability (multiclass)."""
    return "score_" + class_name(name)


def _class_array(places: np.ndarray, classes: Sequence[int | str]) -> Any:
    """Class places (NaN: none) as the classes' own values: text, or integers."""
    import pyarrow as pa

    missing = ~np.isfinite(places)
    index = np.where(missing, 0, places).astype(np.int64)
    if all(isinstance(c, str) for c in classes):
        return pa.array(np.asarray([str(c) for c in classes], dtype=object)[index], pa.string(), mask=missing)
    return pa.array(np.asarray([int(c) for c in classes], dtype=np.int64)[index], pa.int64(), mask=missing)


def _multiclass_columns(table: Any, proba: np.ndarray, key_values: np.ndarray, label_map: LabelMap | None,
                        classes: Sequence[int | str]) -> Any:
    import pyarrow as pa

    n = len(proba)
    rejected = ~np.isfinite(proba).all(axis=1)
    best = np.where(rejected, 0, np.nan_to_num(proba).argmax(axis=1))
    table = table.append_column("score", pa.array(proba[np.arange(n), best], pa.float64(), mask=rejected))
    table = table.append_column("prediction", _class_array(np.where(rejected, np.nan, best), classes))
    places = label_map.lookup(key_values) if label_map is not None and n else np.full(n, np.nan)
    table = table.append_column("label", _class_array(places, classes))
    for i, name in enumerate(classes):
        table = table.append_column(score_column(name), pa.array(proba[:, i], pa.float64(), mask=rejected))
    return table


def _constants(table: Any, n: int, constants: dict[str, str], per_row: dict[str, np.ndarray] | None) -> Any:
    import pyarrow as pa

    for name, value in constants.items():
        row_values = (per_row or {}).get(name)
        table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), n) if row_values is None
                                    else pa.array(row_values.astype(str), pa.string()))
    return neutralise(table)


class PredictionsWriter:
    """Chunks of one predictions file; the file appears when the block that opened it ends without error."""

    def __init__(self, handle: Any) -> None:
        import pyarrow.csv as pa_csv

        self._handle = handle
        self._options = pa_csv.WriteOptions(quoting_style="needed")
        self._writer: Any = None
        self._closed = False

    @property
    def started(self) -> bool:
        return self._writer is not None

    def write(self, table: Any) -> None:
        import pyarrow.csv as pa_csv

        if self._writer is None:
            self._writer = pa_csv.CSVWriter(self._handle, table.schema, write_options=self._options)
        self._writer.write_table(table)

    def close(self) -> None:
        """Finish the CSV (the file itself is committed when the ``writing`` block ends)."""
        if self._writer is not None and not self._closed:
            self._writer.close()
        self._closed = True


@contextmanager
def writing(path: Path) -> Iterator[PredictionsWriter]:
    """Write a predictions file atomically: visible only once the block completes."""
    with atomic_write(path) as handle:
        writer = PredictionsWriter(handle)
        yield writer
        writer.close()


def read_scores(path: Path, key: str, classes: Sequence[int | str] = ()) -> pd.DataFrame:
    """A predictions file's key, score and version columns (an unscored row's score is NaN); with more
    than two ``classes``, each class's ``score_<class>`` too (:func:`score_matrix`)."""
    import pandas as pd

    per_class = [score_column(c) for c in classes] if len(classes) > 2 else []
    return pd.read_csv(path, usecols=[key, "score", "version", *per_class])


def score_matrix(frame: pd.DataFrame, classes: Sequence[int | str] = ()) -> np.ndarray:
    """The scores of rows read by :func:`read_scores`: the score, or (multiclass) one column per class."""
    if len(classes) > 2:
        return frame[[score_column(c) for c in classes]].to_numpy(dtype=float)
    return frame["score"].to_numpy(dtype=float)
