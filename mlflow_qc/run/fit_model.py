"""Training one model on one context and evaluating it on every split (no tracking here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_qc.cache import CacheEntry
from mlflow_qc.models import ModelAdapter, adapter_for
from mlflow_qc.models.metrics import classification_metrics, forecasting_metrics, regression_metrics
from mlflow_qc.models.outputs import decode_output, decode_truth, forecast_frame, probabilities_by_class
from mlflow_qc.recipe import Architecture
from mlflow_qc.run.plan import ModelTask
from mlflow_qc.tracking.names import evaluation_split


@dataclass
class FittedModel:
    """A trained model in memory with what it predicted: the observers' material."""

    model: Any
    adapter: ModelAdapter
    history: dict[str, list[float]]
    metrics: dict[str, float]  # {split}_{metric}
    predictions: pd.DataFrame  # split, row, y_true, prediction[, probability_<class>]: decoded
    outputs: dict[str, np.ndarray] = field(repr=False)  # split -> the adapter's raw output


def score(analysis_type: str, label: np.ndarray, output: np.ndarray, pipeline, loss: float) -> dict[str, float]:
    if analysis_type == "forecasting":
        return forecasting_metrics(pipeline.decode_target(label), pipeline.decode_target(output), loss)
    if analysis_type == "regression":
        predicted = decode_output(output, analysis_type, pipeline).to_numpy(dtype=np.float64)
        return regression_metrics(decode_truth(label, analysis_type, pipeline), predicted.squeeze(), loss)
    return classification_metrics(pipeline.class_index(label), probabilities_by_class(output), loss)


def fit_and_evaluate(task: ModelTask, architecture: Architecture, entry: CacheEntry) -> FittedModel:
    analysis_type = architecture.analysis_type
    pipeline = entry.pipeline(task.context)
    classes = entry.meta["classes"]
    adapter = adapter_for(architecture, n_classes=len(classes) if classes else None)
    splits = {name: entry.load(task.context, name) for name in entry.split_names(task.context)}
    hyperparameters = task.job.hyperparameters
    evaluation = evaluation_split(splits)
    trained = adapter.fit(splits["train"], splits.get(evaluation), dict(hyperparameters), task.seed)

    rows = entry.rows(task.context)
    metrics, frames, outputs = {}, [], {}
    for name, data in splits.items():
        output = np.asarray(adapter.predict(trained.model, list(data.features)))
        loss = adapter.loss(trained.model, np.asarray(data.label), output, dict(hyperparameters))
        for metric, value in score(analysis_type, data.label, output, pipeline, loss).items():
            metrics[f"{name}_{metric}"] = value
        if analysis_type == "forecasting":
            frame = forecast_frame(data.label, output, pipeline, rows[name], pipeline.windows[0][0])
        else:
            frame = decode_output(output, analysis_type, pipeline)
            frame.insert(0, "y_true", decode_truth(data.label, analysis_type, pipeline))
            frame.insert(0, "row", rows[name])
        frame.insert(0, "split", name)
        frames.append(frame)
        outputs[name] = output
    return FittedModel(
        model=trained.model,
        adapter=adapter,
        history=trained.history,
        metrics=metrics,
        predictions=pd.concat(frames, ignore_index=True),
        outputs=outputs,
    )
