"""A trained model on one split: its ``{split}_{metric}`` values and its decoded predictions.

Training (every split the model may see) and ``finalize`` (the sealed test split, later) score
the same way. ``pipeline`` is the model's fitted preprocessing, ``threshold`` its decision
threshold (binary classification; None = 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlflow_qc.models.metrics import classification_metrics, forecasting_metrics, regression_metrics
from mlflow_qc.models.outputs import (
    decode_output,
    decode_truth,
    forecast_frame,
    predicted_index,
    probabilities_by_class,
    probability_columns,
)
from mlflow_qc.models.user_metrics import score_user_metrics


@dataclass
class SplitScore:
    metrics: dict[str, float]  # {split}_{metric}
    predictions: pd.DataFrame  # split, row, y_true, prediction[, probability_<class>]: decoded (forecasts: long)


def score(
    analysis_type: str,
    label: np.ndarray,
    output: np.ndarray,
    pipeline,
    loss: float,
    threshold: float | None = None,
    user_metrics=(),
) -> dict[str, float]:
    """The built-in metrics, then the recipe's ``user_metrics`` on the original labels (models.user_metrics)."""
    if analysis_type == "forecasting":
        truth, forecast = pipeline.decode_target(label), pipeline.decode_target(output)
        return {**forecasting_metrics(truth, forecast, loss), **score_user_metrics(user_metrics, truth, forecast, None)}
    if analysis_type == "regression":
        truth = decode_truth(label, analysis_type, pipeline)
        predicted = decode_output(output, analysis_type, pipeline).to_numpy(dtype=np.float64).squeeze()
        return {
            **regression_metrics(truth, predicted, loss),
            **score_user_metrics(user_metrics, truth, predicted, None),
        }
    index, proba = pipeline.class_index(label), probabilities_by_class(output)
    scores = classification_metrics(index, proba, loss, threshold)
    if user_metrics:
        classes = np.asarray(pipeline.classes, dtype=object)
        scores.update(
            score_user_metrics(user_metrics, classes[index], classes[predicted_index(proba, threshold)], proba)
        )
    return scores


def score_split(
    adapter,
    model,
    split: str,
    label: np.ndarray,
    output: np.ndarray,
    rows: np.ndarray,
    pipeline,
    hyperparameters: dict,
    threshold: float | None = None,
    user_metrics=(),
) -> SplitScore:
    """The metrics and decoded predictions of ``output`` (the adapter's raw output on ``split``)."""
    metrics = split_metrics(adapter, model, split, label, output, pipeline, hyperparameters, threshold, user_metrics)
    return SplitScore(metrics, prediction_frame(adapter.analysis_type, split, label, output, rows, pipeline, threshold))


def split_metrics(
    adapter,
    model,
    split: str,
    label: np.ndarray,
    output: np.ndarray,
    pipeline,
    hyperparameters: dict,
    threshold: float | None = None,
    user_metrics=(),
) -> dict[str, float]:
    """``{split}_{metric}`` of ``output`` (the adapter's raw output on ``split``)."""
    loss = adapter.loss(model, np.asarray(label), output, dict(hyperparameters))
    scores = score(adapter.analysis_type, label, output, pipeline, loss, threshold, user_metrics)
    return {f"{split}_{name}": value for name, value in scores.items()}


def prediction_frame(
    analysis_type: str,
    split: str,
    label: np.ndarray,
    output: np.ndarray,
    rows: np.ndarray,
    pipeline,
    threshold: float | None = None,
) -> pd.DataFrame:
    """The decoded predictions of one split: split, row, y_true, prediction[, probability_<class>] (forecasts: long)."""
    if analysis_type == "forecasting":
        frame = forecast_frame(label, output, pipeline, rows, pipeline.windows[0][0])
    else:
        frame = decode_output(output, analysis_type, pipeline, threshold)
        frame.insert(0, "y_true", decode_truth(label, analysis_type, pipeline))
        frame.insert(0, "row", rows)
    frame.insert(0, "split", split)
    return frame


def constant_dictionary(value, length: int):
    """An Arrow column of ``length`` times ``value``, stored once (a dictionary of one entry)."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(length, dtype=np.int32)), pa.array([value]))


def prediction_table(
    analysis_type: str,
    split: str,
    label: np.ndarray,
    output: np.ndarray,
    rows: np.ndarray,
    pipeline,
    threshold: float | None = None,
):
    """``prediction_frame`` as an Arrow table built from the arrays (no Python object per row): split
    and labels are dictionary arrays (indices into the classes), which parquet stores as they are;
    None where only the frame applies (regression, forecasting, classes Arrow cannot type). Written
    without its Arrow schema, a reader sees plain columns, as in the frame."""
    import pyarrow as pa

    if not analysis_type.startswith("classification"):
        return None
    try:
        classes = pa.array(list(pipeline.classes))
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if not (pa.types.is_string(classes.type) or pa.types.is_integer(classes.type)):
        return None

    def labels(indices: np.ndarray):
        return pa.DictionaryArray.from_arrays(pa.array(np.asarray(indices, dtype=np.int32)), classes)

    proba = probabilities_by_class(output)
    columns = {
        "split": constant_dictionary(split, len(proba)),
        "row": pa.array(np.asarray(rows, dtype=np.int64)),
        "y_true": labels(pipeline.class_index(label)),
        "prediction": labels(predicted_index(proba, threshold)),
    }
    for j, column in enumerate(probability_columns(pipeline.classes)):
        columns[column] = pa.array(np.ascontiguousarray(proba[:, j], dtype=np.float64))
    return pa.table(columns)
