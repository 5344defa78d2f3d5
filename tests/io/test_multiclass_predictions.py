"""The predictions CSV of a multiclass model: the predicted class in the labels' own values, each class's probability."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from lowops.io import predictions


def _csv(classes: list[int] | list[str], proba: np.ndarray, labels: predictions.LabelMap | None) -> list[str]:
    batch = pa.RecordBatch.from_pydict({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
    table = predictions.output_table(batch, "id", ["x"], "classification", proba, 0.5, np.array([1, 2, 3]), labels,
                                     {"model": "m", "version": "v0001"}, classes=classes)
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(quoting_style="needed"))
    return buffer.getvalue().decode().splitlines()


def test_integer_classes_stay_integers_and_an_unscored_row_is_empty() -> None:
    proba = np.array([[0.2, 0.5, 0.3], [np.nan, np.nan, np.nan], [0.7, 0.2, 0.1]])
    labels = predictions.LabelMap(pa.array([1, 3]), np.array([2.0, 0.0]))  # stored as each class's place; row 2 has no label yet
    assert _csv([10, 20, 30], proba, labels) == [
        '"id","x","score","prediction","label","score_10","score_20","score_30","model","version"',
        '1,0.5,0.5,20,30,0.2,0.5,0.3,"m","v0001"',
        '2,1.5,,,,,,,"m","v0001"',
        '3,2.5,0.7,10,10,0.7,0.2,0.1,"m","v0001"']


def test_text_classes_name_their_columns_without_whitespace() -> None:
    proba = np.array([[0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    lines = _csv(["low", "mid tier", "high"], proba, None)
    assert lines[0] == '"id","x","score","prediction","label","score_low","score_mid_tier","score_high","model","version"'
    assert lines[1:] == ['1,0.5,0.6,"mid tier",,0.1,0.6,0.3,"m","v0001"', '2,1.5,0.4,"high",,0.3,0.3,0.4,"m","v0001"',
                         '3,2.5,0.5,"low",,0.5,0.25,0.25,"m","v0001"']
    frame = pd.read_csv(io.StringIO("\n".join(lines)))
    read = predictions.score_matrix(frame, ["low", "mid tier", "high"])
    assert read.shape == (3, 3) and read[1].tolist() == [0.3, 0.3, 0.4]


def test_the_label_map_finds_each_key_once_and_leaves_the_unlabelled_empty() -> None:
    labels = predictions.LabelMap(pa.array([10, 30, 20]), np.array([1.0, 0.0, 1.0]))
    found = labels.lookup(np.array([20, 40, 10, 30, 20]))
    np.testing.assert_array_equal(found, [1.0, np.nan, 1.0, 0.0, 1.0])
    # Text keys beside integer labels' keys: a key type the labels cannot take finds nothing, it never fails.
    assert np.isnan(predictions.LabelMap(pa.array([1, 2]), np.array([0.0, 1.0])).lookup(np.array(["a", "b"],
                                                                                              dtype=object))).all()
    text = predictions.LabelMap(pa.array(["c-1", "c-2"]), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(text.lookup(np.array(["c-2", "c-9"], dtype=object)), [1.0, np.nan])
    assert np.isnan(predictions.LabelMap(pa.array([], pa.int64()), np.array([])).lookup(np.array([1, 2]))).all()
