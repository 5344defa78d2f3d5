"""The schema contract: what a model expects of its input, and the checks of data against it.

Training records the contract (columns, kinds, categories seen, numeric ranges);
extraction checks each chunk against the live model's before the data version
is committed (:class:`ContractCheck`); scoring counts what each chunk holds
(:func:`count_batch`); every other frame a model scores goes through
:func:`check_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lowops.errors import DataError
from lowops.model.card import Column, Contract


def schema_contract(frame: pd.DataFrame, numeric: list[str], categorical: list[str], *,
                    entity_key: str | None = None, target: str | None = None,
                    max_categories: int = 1000) -> Contract:
    """What the model expects of its input: columns, kinds, categories seen, numeric ranges."""
    columns = []
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").astype(float)
        finite = values[np.isfinite(values)]
        columns.append(Column(
            name=name, kind="numeric", dtype=str(frame[name].dtype),
            min=float(finite.min()) if len(finite) else None, max=float(finite.max()) if len(finite) else None,
            missing_rate=float(values.isna().mean()) if len(values) else 0.0))
    for name in categorical:
        counts = frame[name].astype(object).dropna().astype(str).value_counts()
        columns.append(Column(
            name=name, kind="categorical", dtype=str(frame[name].dtype),
            categories=tuple(sorted(counts.index[:max_categories].tolist())),
            missing_rate=float(frame[name].isna().mean()) if len(frame) else 0.0))
    return Contract(tuple(columns), entity_key=entity_key, target=target)


def _missing_columns(contract: Contract, present: Any, where: str) -> DataError | None:
    missing = [name for name in contract.names if name not in present]
    if not missing:
        return None
    return DataError(f"{where}: column(s) {', '.join(repr(m) for m in missing)} required by the model are "
                     "missing; restore them in the feature SQL or retrain the model without them.")


def _not_numeric(where: str, name: str, count: int, example: object) -> DataError:
    return DataError(f"{where}: column '{name}' must be numeric but {count} value(s) are not "
                     f"(e.g. {str(example)[:40]!r}); fix the source or the feature SQL.")


def unknown_rate_error(where: str, column: str, unknown: int, rows: int, threshold: float,
                       example: object = None) -> DataError:
    """The error for a column with too many categories the model never saw (exit 65)."""
    seen = f", e.g. {str(example)[:40]!r}" if example is not None else ""
    return DataError(
        f"{where}: column '{column}' has unknown_rate {unknown / rows:.4f} ({unknown} of {rows} values are "
        f"categories the model never saw{seen}), above features.max_unknown_rate {threshold:g}; retrain on "
        "recent windows (lowops retrain) or raise features.max_unknown_rate."
    )


def _text_in_numbers(values: pd.Series) -> pd.Series | None:
    """The cells of a numeric column that are not numbers (None when its dtype is numeric)."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return None
    return pd.to_numeric(values, errors="coerce").isna() & values.notna()


def check_columns(present: Any, contract: Contract, where: str) -> None:
    """Every column of the contract is among ``present``.

    Raises:
        DataError: one is missing.
    """
    error = _missing_columns(contract, present, where)
    if error is not None:
        raise error


def check_frame(frame: pd.DataFrame, contract: Contract, where: str) -> None:
    """Check a frame against a model's contract before it is scored.

    Raises:
        DataError: a column is missing, or a numeric column holds text.
    """
    check_columns(frame.columns, contract, where)
    for column in contract.columns:
        if not column.numeric:
            continue
        wrong = _text_in_numbers(frame[column.name])
        if wrong is not None and (bad := int(wrong.sum())):
            raise _not_numeric(where, column.name, bad, frame[column.name][wrong].iloc[0])


def _numeric_type(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or pa.types.is_null(kind))


def check_batch(batch: Any, contract: Contract, where: str) -> None:
    """:func:`check_frame` for an Arrow batch: only a numeric column of another Arrow type is read by pandas.

    Raises:
        DataError: a column is missing, or a numeric column holds text.
    """
    check_columns(batch.schema.names, contract, where)
    for column in contract.columns:
        values = batch.column(column.name)
        if column.numeric and not _numeric_type(values.type):
            check_frame(pd.DataFrame({column.name: values.to_pandas()}), Contract((column,)), where)


@dataclass
class ContractCheck:
    """A window's rows checked chunk by chunk against a model's schema contract, before they are stored.

    A missing column fails at the first chunk; text in a numeric column and the
    share of unknown categories are counted over the whole window and judged by
    :meth:`finish`, so a message reports the window's totals.
    """

    contract: Contract
    where: str
    max_unknown_rate: float
    rows: int = 0
    bad: dict[str, tuple[int, object]] = field(default_factory=dict)
    unknown: dict[str, tuple[int, object]] = field(default_factory=dict)

    def update(self, table: Any) -> None:
        """Count one chunk's problems, an Arrow table, with Arrow kernels (a column pandas must judge,
        text in a numeric column or categories that are not text, goes to pandas alone).

        Raises:
            DataError: a column the model needs is missing.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if not table.num_rows:  # an empty window (or chunk) may not carry every mart's columns
            return
        check_columns(table.column_names, self.contract, self.where)
        self.rows += table.num_rows
        for column in self.contract.columns:
            values = table.column(column.name)
            kind = values.type
            if column.numeric:
                if _numeric_type(kind) or pa.types.is_decimal(kind):
                    continue
                series = values.to_pandas()
                wrong = _text_in_numbers(series)
                if wrong is not None and wrong.any():
                    count, example = self.bad.get(column.name, (0, series[wrong].iloc[0]))
                    self.bad[column.name] = (count + int(wrong.sum()), example)
            elif pa.types.is_null(kind):
                continue
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                known = pa.array(list(column.categories), kind)
                unseen = pc.filter(values, pc.and_(pc.invert(pc.is_in(values, value_set=known)),
                                                   pc.is_valid(values)))
                if len(unseen):
                    count, example = self.unknown.get(column.name, (0, unseen[0].as_py()))
                    self.unknown[column.name] = (count + len(unseen), example)
            else:
                present = values.to_pandas().dropna().astype(str)
                unseen_text = present[~present.isin(set(column.categories))]
                if len(unseen_text):
                    count, example = self.unknown.get(column.name, (0, unseen_text.iloc[0]))
                    self.unknown[column.name] = (count + len(unseen_text), example)

    def finish(self) -> None:
        """Judge the whole window.

        Raises:
            DataError: a numeric column holds text, or a column's unknown_rate passes the threshold.
        """
        for name, (count, example) in self.bad.items():
            raise _not_numeric(self.where, name, count, example)
        for name, (count, example) in self.unknown.items():
            if self.rows and count / self.rows > self.max_unknown_rate:
                raise unknown_rate_error(self.where, name, count, self.rows, self.max_unknown_rate, example)


@dataclass
class BatchCounts:
    """Missing and non-finite values and unknown categories of one chunk, per column."""

    unknown_categories: dict[str, int] = field(default_factory=dict)
    missing_values: dict[str, int] = field(default_factory=dict)
    non_finite_values: dict[str, int] = field(default_factory=dict)
    unknown_examples: dict[str, object] = field(default_factory=dict)

    def add(self, other: BatchCounts) -> None:
        """Add another chunk's counts (the first example of an unknown category is kept)."""
        for mine, theirs in ((self.unknown_categories, other.unknown_categories),
                             (self.missing_values, other.missing_values),
                             (self.non_finite_values, other.non_finite_values)):
            for name, count in theirs.items():
                mine[name] = mine.get(name, 0) + count
        for name, example in other.unknown_examples.items():
            self.unknown_examples.setdefault(name, example)


def count_batch(batch: Any, contract: Contract, where: str = "this window") -> BatchCounts:
    """What one Arrow chunk holds, counted by Arrow kernels.

    Raises:
        DataError: a numeric column holds text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    counts = BatchCounts()
    for column in contract.columns:
        values = batch.column(column.name)
        if column.numeric and not _numeric_type(values.type):
            check_frame(pd.DataFrame({column.name: values.to_pandas()}), Contract((column,)), where)
        missing = values.null_count
        if pa.types.is_floating(values.type):
            missing += int(pc.sum(pc.is_nan(values)).as_py() or 0)
            infinite = int(pc.sum(pc.is_inf(values)).as_py() or 0)
            if infinite:
                counts.non_finite_values[column.name] = infinite
        if missing:
            counts.missing_values[column.name] = missing
        if not column.numeric:
            known = pa.array(list(column.categories), pa.string())
            present = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
            unseen = pc.and_(pc.invert(pc.is_in(present, value_set=known)), pc.is_valid(present))
            unknown = pc.sum(unseen).as_py()
            if unknown:
                counts.unknown_categories[column.name] = int(unknown)
                counts.unknown_examples[column.name] = pc.filter(present, unseen)[0].as_py()
    return counts
