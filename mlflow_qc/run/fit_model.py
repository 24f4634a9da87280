"""Training one model on one context and evaluating it on every split it may see (no tracking here).

The baseline job trains scikit-learn's trivial predictor whatever the recipe's library; with
``hide_test`` the test split is never loaded; a binary model's decision threshold is chosen on
its evaluation split and used for every split's metrics and answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlflow_qc.cache import CacheEntry
from mlflow_qc.models import ModelAdapter, adapter_for
from mlflow_qc.models.base import TrainedModel
from mlflow_qc.models.baseline import baseline_architecture
from mlflow_qc.models.predictions_file import write_predictions_table
from mlflow_qc.models.scoring import prediction_frame, prediction_table, split_metrics
from mlflow_qc.models.threshold import choose_threshold
from mlflow_qc.recipe import Architecture
from mlflow_qc.run import rung_models
from mlflow_qc.run.plan import ModelTask
from mlflow_qc.tracking.names import TEST_SPLIT, evaluation_split


@dataclass
class FittedModel:
    """A trained model in memory with what it predicted: the observers' material."""

    model: Any
    adapter: ModelAdapter
    history: dict[str, list[float]]
    metrics: dict[str, float]  # {split}_{metric}
    outputs: dict[str, np.ndarray] = field(repr=False)  # split -> the adapter's raw output
    threshold: float | None = None  # binary: the decision threshold (None: 0.5)
    resumed_from: int | None = None  # adaptive search on epochs: the epochs of the model it continued
    decoding: tuple = field(
        default=(), repr=False
    )  # (analysis type, pipeline, {split: (label, rows)}) of the predictions

    @cached_property
    def predictions(self) -> pd.DataFrame:
        """split, row, y_true, prediction[, probability_<class>]: decoded, every split the model saw."""
        analysis_type, pipeline, splits = self.decoding
        return pd.concat(
            [
                prediction_frame(analysis_type, split, label, self.outputs[split], rows, pipeline, self.threshold)
                for split, (label, rows) in splits.items()
            ],
            ignore_index=True,
        )

    def write_predictions(self, path: Path) -> None:
        """``predictions`` as parquet, through Arrow from the arrays where it can (classification)."""
        import pyarrow as pa

        analysis_type, pipeline, splits = self.decoding
        tables = [
            prediction_table(analysis_type, split, label, self.outputs[split], rows, pipeline, self.threshold)
            for split, (label, rows) in splits.items()
        ]
        if tables and all(t is not None and t.schema.equals(tables[0].schema) for t in tables):
            write_predictions_table(pa.concat_tables(tables), path)
        else:
            self.predictions.to_parquet(path, index=False)


def fit_or_resume(adapter: ModelAdapter, task: ModelTask, train, evaluation, scope: str) -> TrainedModel:
    """Train afresh, or continue the model the candidate's previous epochs rung left in this process."""
    hyperparameters = dict(task.job.hyperparameters)
    key = rung_models.rung_key(scope, task)
    epochs = hyperparameters.get("epochs")
    kept = rung_models.take(key, epochs) if key is not None else None
    trained = None
    if kept is not None:
        trained = adapter.resume(kept[1], kept[0], train, evaluation, hyperparameters, task.seed)
    if trained is None:
        trained = adapter.fit(train, evaluation, hyperparameters, task.seed)
    if task.job.partial:  # a later rung may continue it; the full resource's models are never continued
        rung_models.keep(key, epochs, trained)
    return trained


def visible_splits(entry: CacheEntry, context: str, hide_test: bool) -> list[str]:
    return [name for name in entry.split_names(context) if not (hide_test and name == TEST_SPLIT)]


def fit_and_evaluate(
    task: ModelTask,
    architecture: Architecture,
    entry: CacheEntry,
    hide_test: bool = False,
    threshold: str | float | None = None,
    user_metrics=(),
    scope: str = "",
) -> FittedModel:
    """``threshold``: the recipe's rule (f1, youden) or a fixed number; ignored by the baseline.
    ``user_metrics``: the recipe's evaluation.metrics, scored beside the built-in ones. ``scope``: the
    experiment run, within which an epochs rung may continue the candidate's previous one (``rung_models``)."""
    if task.job.baseline:
        architecture, threshold = baseline_architecture(architecture.analysis_type), None
    # adaptive search on samples: a context of the rung's training rows, preprocessing fit on them (prepare.py)
    context = task.data_context
    pipeline = entry.pipeline(context)
    classes = entry.meta["classes"]
    adapter = adapter_for(architecture, n_classes=len(classes) if classes else None)
    splits = {name: entry.load(context, name) for name in visible_splits(entry, context, hide_test)}
    hyperparameters = task.job.hyperparameters
    evaluation = evaluation_split(splits)
    trained = fit_or_resume(adapter, task, splits["train"], splits.get(evaluation), scope)

    outputs = {name: np.asarray(adapter.predict(trained.model, list(data.features))) for name, data in splits.items()}
    if threshold is not None and architecture.analysis_type == "classification_binary":
        watched = splits.get(evaluation)
        by = next((metric for metric in user_metrics if metric.name == threshold), None)  # a user metric's name
        threshold = choose_threshold(
            threshold,
            None if watched is None else pipeline.class_index(watched.label),
            None if watched is None else outputs[evaluation][:, -1],
            by,
            pipeline.classes,
        )
    else:
        threshold = None
    rows = entry.rows(context)
    metrics = {}
    for name, data in splits.items():
        metrics.update(
            split_metrics(
                adapter,
                trained.model,
                name,
                data.label,
                outputs[name],
                pipeline,
                hyperparameters,
                threshold,
                user_metrics,
            )
        )
    return FittedModel(
        model=trained.model,
        adapter=adapter,
        history=trained.history,
        metrics=metrics,
        outputs=outputs,
        threshold=threshold,
        resumed_from=trained.resumed_from,
        decoding=(adapter.analysis_type, pipeline, {name: (data.label, rows[name]) for name, data in splits.items()}),
    )
