"""A classifier's per-class table (``qc/per_class.csv``): per split and class, the support and the
precision, recall and f1 of its thresholded predictions (what the weighted and macro averages average)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from mlflow_qc.models.metrics import per_class_table
from mlflow_qc.models.outputs import label_positions, predicted_index, probabilities_by_class
from mlflow_qc.tracking.names import PER_CLASS_ARTIFACT

COLUMNS = ["split", "class", "support", "precision", "recall", "f1"]


def per_class_columns(tables) -> dict[str, list]:
    """``(split, per_class_table(...))`` pairs as one list per column of COLUMNS: plain lists, not a
    frame per table (a job report makes one per split and model)."""
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    for split, table in tables:
        columns["split"] += [split] * len(table["class"])
        for name, values in table.items():
            columns[name] += values
    return columns


def per_class_rows(tables) -> pd.DataFrame:
    """``per_class_columns`` as one frame (an empty frame for none)."""
    columns = per_class_columns(tables)
    return pd.DataFrame(columns) if columns["split"] else pd.DataFrame()


def per_class_frame(fitted) -> pd.DataFrame:
    """split, class, support, precision, recall, f1 of every split the model was scored on."""
    return per_class_rows(_model_tables(fitted))


def _model_tables(fitted):
    """(split, per_class_table(...)) of every split the model was scored on."""
    analysis_type, pipeline, splits = fitted.decoding
    return (
        (
            split,
            per_class_table(
                pipeline.class_index(label),
                predicted_index(probabilities_by_class(fitted.outputs[split]), fitted.threshold),
                pipeline.classes,
            ),
        )
        for split, (label, _) in splits.items()
    )


def write_per_class(fitted, folder: Path) -> Path | None:
    if not fitted.adapter.is_classification:
        return None
    path = Path(folder) / PER_CLASS_ARTIFACT
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = per_class_columns(_model_tables(fitted))
    with open(path, "w", newline="") as file:  # the csv module writes what DataFrame.to_csv would, 10x sooner
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(zip(*(columns[name] for name in COLUMNS)))
    return path


def with_split_of(table: pd.DataFrame | None, split: str, predictions: pd.DataFrame, classes) -> pd.DataFrame:
    """``table`` (a logged qc/per_class.csv, or None) with the rows of ``split`` from decoded
    ``predictions`` (y_true, prediction) in place of any it had: finalize adds the test split."""
    rows = per_class_rows(
        [
            (
                split,
                per_class_table(
                    label_positions(predictions["y_true"], classes),
                    label_positions(predictions["prediction"], classes),
                    classes,
                ),
            )
        ]
    )
    kept = table[table["split"] != split] if table is not None and len(table) else None
    return rows if kept is None else pd.concat([kept, rows], ignore_index=True)
