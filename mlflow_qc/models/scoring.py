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
from mlflow_qc.models.outputs import decode_output, decode_truth, forecast_frame, probabilities_by_class


@dataclass
class SplitScore:
    metrics: dict[str, float]  # {split}_{metric}
    predictions: pd.DataFrame  # split, row, y_true, prediction[, probability_<class>]: decoded (forecasts: long)


def score(analysis_type: str, label: np.ndarray, output: np.ndarray, pipeline, loss: float,
          threshold: float | None = None) -> dict[str, float]:
    if analysis_type == "forecasting":
        return forecasting_metrics(pipeline.decode_target(label), pipeline.decode_target(output), loss)
    if analysis_type == "regression":
        predicted = decode_output(output, analysis_type, pipeline).to_numpy(dtype=np.float64)
        return regression_metrics(decode_truth(label, analysis_type, pipeline), predicted.squeeze(), loss)
    return classification_metrics(pipeline.class_index(label), probabilities_by_class(output), loss, threshold)


def score_split(adapter, model, split: str, label: np.ndarray, output: np.ndarray, rows: np.ndarray, pipeline,
                hyperparameters: dict, threshold: float | None = None) -> SplitScore:
    """The metrics and decoded predictions of ``output`` (the adapter's raw output on ``split``)."""
    analysis_type = adapter.analysis_type
    loss = adapter.loss(model, np.asarray(label), output, dict(hyperparameters))
    metrics = {f"{split}_{name}": value for name, value in score(analysis_type, label, output, pipeline, loss, threshold).items()}
    if analysis_type == "forecasting":
        frame = forecast_frame(label, output, pipeline, rows, pipeline.windows[0][0])
    else:
        frame = decode_output(output, analysis_type, pipeline, threshold)
        frame.insert(0, "y_true", decode_truth(label, analysis_type, pipeline))
        frame.insert(0, "row", rows)
    frame.insert(0, "split", split)
    return SplitScore(metrics, frame)
