"""The predictions file: a table read back from memory is the one reading the file gives, and only
while the file is the one written."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlflow_qc.models import predictions_file
from mlflow_qc.models.predictions_file import read_predictions_table, write_predictions_table
from mlflow_qc.models.scoring import prediction_table


def _table(classes: list, seed: int, drawn: int | None = None):
    rng = np.random.default_rng(seed)
    pipeline = SimpleNamespace(classes=classes, class_index=lambda label: np.asarray(label))
    tables = []
    for split, n in (("train", 40), ("fold_validation", 12), ("test", 9)):
        label = rng.integers(0, drawn or len(classes), n)
        output = rng.dirichlet(np.ones(len(classes)), n)
        tables.append(
            prediction_table(
                f"classification_{'binary' if len(classes) == 2 else 'multi'}",
                split,
                label,
                output if len(classes) > 2 else output[:, 1:],
                rng.permutation(100)[:n],
                pipeline,
            )
        )
    return pa.concat_tables(tables)


@pytest.mark.parametrize(
    "classes, drawn",
    [(["yes", "no"], None), ([3, 1, 2], None), (["b", "a", "c", "d"], None), (["b", "a", "c", "d"], 2)],
)  # the last: classes no row has
def test_a_kept_table_reads_as_the_file_does(tmp_path, classes, drawn):
    path = tmp_path / "predictions.parquet"
    write_predictions_table(_table(classes, 0, drawn), path)
    from_memory = read_predictions_table(path)
    assert str(path.resolve()) not in predictions_file._kept  # handed out once
    from_file = read_predictions_table(path)
    assert from_memory.schema.equals(from_file.schema)
    assert from_memory.equals(from_file)
    pd.testing.assert_frame_equal(from_memory.to_pandas(), from_file.to_pandas())  # categories in the same order


def test_a_file_written_again_is_read_from_disk(tmp_path):
    path = tmp_path / "predictions.parquet"
    write_predictions_table(_table(["no", "yes"], 1), path)
    replacement = _table(["no", "yes"], 2)
    import pyarrow.parquet as pq

    pq.write_table(replacement, path)  # another writer, same path
    os.utime(path, ns=(1, 1))
    read = read_predictions_table(path)
    assert read.column("probability_yes").to_pylist() == replacement.column("probability_yes").to_pylist()


def test_memory_kept_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(predictions_file, "KEPT_TABLES", 3)
    for i in range(5):
        write_predictions_table(_table(["no", "yes"], i), tmp_path / f"{i}.parquet")
    kept = [key for key in predictions_file._kept if key.startswith(str(tmp_path.resolve()))]
    assert [os.path.basename(key) for key in kept] == ["2.parquet", "3.parquet", "4.parquet"]
    assert predictions_file._kept_bytes[0] == sum(t.nbytes for _, t, _ in predictions_file._kept.values())
    monkeypatch.setattr(predictions_file, "KEPT_BYTES", 1)
    write_predictions_table(_table(["no", "yes"], 9), tmp_path / "big.parquet")
    assert not predictions_file._kept  # a table over the limit alone is not kept either
    assert predictions_file._kept_bytes[0] == 0  # the running total follows what is kept
    assert read_predictions_table(tmp_path / "big.parquet").num_rows == 61
