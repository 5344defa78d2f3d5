"""The reference a window is compared with: feature sketches, score distribution, calibration.

At training time every model version stores ``reference.json`` beside it
(one sketch per feature of its schema contract, the sketch of its hold-out
scores and the isotonic calibration map for CBPE) and
``reference_sample.parquet`` (a few thousand training rows with the target,
for the Sweetviz report). A drift check against the training data therefore
reads only the current window. With ``drift.reference: previous`` or
``baseline`` the same sketches are built from that window's snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lowops.io.layout import REFERENCE_FILE, SAMPLE_FILE
from lowops.monitoring.cbpe import Calibration, fit_calibration, fit_class_calibrations
from lowops.monitoring.stats import (
    CategoricalSketch,
    NumericSketch,
    categorical_sketch,
    numeric_sketch,
    sketch_from_dict,
)

if TYPE_CHECKING:
    import pandas as pd

    from lowops.config_schema import DriftConfig

FORMAT = 1


@dataclass(frozen=True)
class Reference:
    """What drift is measured against."""

    features: dict[str, NumericSketch | CategoricalSketch]
    score: NumericSketch | None = None
    calibration: Calibration | None = None
    source: dict[str, Any] = field(default_factory=dict)
    # Multiclass: each class's probability sketched, and its one-vs-rest calibration map (CBPE).
    class_scores: tuple[NumericSketch, ...] = ()
    class_calibrations: tuple[Calibration | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {"format": FORMAT, "source": self.source,
                "features": {name: sketch.to_dict() for name, sketch in self.features.items()},
                "score": self.score.to_dict() if self.score is not None else None,
                "calibration": self.calibration.to_dict() if self.calibration is not None else None}
        if self.class_scores:
            data["class_scores"] = [sketch.to_dict() for sketch in self.class_scores]
            data["class_calibrations"] = [c.to_dict() if c is not None else None for c in self.class_calibrations]
        return data

    def to_json_bytes(self) -> bytes:
        # Compact: a sketch is thousands of numbers nobody reads by eye.
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reference:
        score = data.get("score")
        calibration = data.get("calibration")
        return cls({name: sketch_from_dict(s) for name, s in data["features"].items()},
                   NumericSketch.from_dict(score) if score else None,
                   Calibration.from_dict(calibration) if calibration else None,
                   dict(data.get("source") or {}),
                   tuple(NumericSketch.from_dict(s) for s in data.get("class_scores") or ()),
                   tuple(Calibration.from_dict(c) if c else None for c in data.get("class_calibrations") or ()))


def build_reference(frame: pd.DataFrame, numeric: list[str], categorical: list[str], settings: DriftConfig, *,
                    scores: Any = None, labels: Any = None, source: dict[str, Any] | None = None) -> Reference:
    """Sketch every feature of ``frame``, and the scores (with a calibration map when labels are given).

    Args:
        frame: the reference rows.
        numeric: the numeric feature columns.
        categorical: the categorical feature columns.
        settings: the ``drift`` config section (sketch size, PSI bins, category cap).
        scores: the model's scores on reference rows (the hold-out at training time).
        labels: the 0/1 labels of those rows, to fit the CBPE calibration map.
        source: where the reference comes from, recorded in the file.

    Returns:
        The reference.
    """
    sketches: dict[str, NumericSketch | CategoricalSketch] = {}
    for name in numeric:
        sketches[name] = numeric_sketch(frame[name], size=settings.sketch_size, bins=settings.psi_bins)
    for name in categorical:
        sketches[name] = categorical_sketch(frame[name], max_categories=settings.max_categories)
    score_sketch = None
    source = dict(source or {}, rows=int(len(frame)))
    if scores is not None and np.ndim(scores) == 2:  # a multiclass model's probabilities: one sketch per class
        proba = np.asarray(scores, dtype=float)
        per_class = tuple(numeric_sketch(proba[:, c], size=settings.sketch_size, bins=settings.psi_bins)
                          for c in range(proba.shape[1]))
        maps = fit_class_calibrations(proba, labels) if labels is not None else ()
        return Reference(sketches, None, None, source, per_class, maps)
    if scores is not None:
        score_sketch = numeric_sketch(np.asarray(scores, dtype=float), size=settings.sketch_size,
                                      bins=settings.psi_bins)
    calibration = fit_calibration(scores, labels) if scores is not None and labels is not None else None
    return Reference(sketches, score_sketch, calibration, source)


def reference_files(frame: pd.DataFrame, numeric: list[str], categorical: list[str], target: str,
                    settings: DriftConfig, *, scores: Any, labels: Any, source: dict[str, Any],
                    seed: int) -> dict[str, bytes]:
    """The files a model version stores for monitoring (``extra_files`` of the registry).

    Args:
        frame: the training range's rows (features and target).
        numeric: numeric feature columns.
        categorical: categorical feature columns.
        target: the target column, kept in the Sweetviz sample.
        settings: the ``drift`` config section.
        scores: the model's hold-out scores.
        labels: the hold-out labels.
        source: where the rows come from (windows), recorded in ``reference.json``.
        seed: sampling seed for the Sweetviz sample.

    Returns:
        ``{"reference.json": ..., "reference_sample.parquet": ...}``.
    """
    reference = build_reference(frame, numeric, categorical, settings, scores=scores, labels=labels, source=source)
    columns = [*numeric, *categorical] + ([target] if target in frame.columns else [])
    rows = settings.sweetviz.reference_rows
    sample = frame[columns].sample(n=rows, random_state=seed) if len(frame) > rows else frame[columns]
    return {REFERENCE_FILE: reference.to_json_bytes(),
            SAMPLE_FILE: _parquet_bytes(sample.reset_index(drop=True))}


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes in memory (the registry writes them atomically with the version)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


def reference_from_bytes(data: bytes) -> Reference:
    """The reference stored beside a model version (``reference.json``'s bytes, already verified)."""
    return Reference.from_dict(json.loads(data.decode("utf-8")))


def sample_from_bytes(data: bytes) -> pd.DataFrame:
    """The training sample stored beside a model version for Sweetviz (``reference_sample.parquet``'s bytes)."""
    import io

    import pyarrow.parquet as pq

    frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
    return frame
