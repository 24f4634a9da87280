"""Training one model on one context and evaluating it on every split it may see (no tracking here).

The baseline job trains scikit-learn's trivial predictor whatever the recipe's library; with
``hide_test`` the test split is never loaded; a binary model's decision threshold is chosen on
its evaluation split and used for every split's metrics and answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlflow_qc.cache import CacheEntry
from mlflow_qc.models import ModelAdapter, adapter_for
from mlflow_qc.models.baseline import baseline_architecture
from mlflow_qc.models.scoring import score_split
from mlflow_qc.models.threshold import choose_threshold
from mlflow_qc.recipe import Architecture
from mlflow_qc.run.plan import ModelTask
from mlflow_qc.tracking.names import TEST_SPLIT, evaluation_split


@dataclass
class FittedModel:
    """A trained model in memory with what it predicted: the observers' material."""

    model: Any
    adapter: ModelAdapter
    history: dict[str, list[float]]
    metrics: dict[str, float]  # {split}_{metric}
    predictions: pd.DataFrame  # split, row, y_true, prediction[, probability_<class>]: decoded
    outputs: dict[str, np.ndarray] = field(repr=False)  # split -> the adapter's raw output
    threshold: float | None = None  # binary: the decision threshold (None: 0.5)


def visible_splits(entry: CacheEntry, context: str, hide_test: bool) -> list[str]:
    return [name for name in entry.split_names(context) if not (hide_test and name == TEST_SPLIT)]


def fit_and_evaluate(task: ModelTask, architecture: Architecture, entry: CacheEntry, hide_test: bool = False,
                     threshold: str | float | None = None) -> FittedModel:
    """``threshold``: the recipe's rule (f1, youden) or a fixed number; ignored by the baseline."""
    if task.job.baseline:
        architecture, threshold = baseline_architecture(architecture.analysis_type), None
    pipeline = entry.pipeline(task.context)
    classes = entry.meta["classes"]
    adapter = adapter_for(architecture, n_classes=len(classes) if classes else None)
    splits = {name: entry.load(task.context, name) for name in visible_splits(entry, task.context, hide_test)}
    hyperparameters = task.job.hyperparameters
    evaluation = evaluation_split(splits)
    trained = adapter.fit(splits["train"], splits.get(evaluation), dict(hyperparameters), task.seed)

    outputs = {name: np.asarray(adapter.predict(trained.model, list(data.features))) for name, data in splits.items()}
    if threshold is not None and architecture.analysis_type == "classification_binary":
        watched = splits.get(evaluation)
        threshold = choose_threshold(threshold, None if watched is None else pipeline.class_index(watched.label),
                                     None if watched is None else outputs[evaluation][:, -1])
    else:
        threshold = None
    rows = entry.rows(task.context)
    scored = [score_split(adapter, trained.model, name, data.label, outputs[name], rows[name], pipeline, hyperparameters, threshold)
              for name, data in splits.items()]
    return FittedModel(
        model=trained.model,
        adapter=adapter,
        history=trained.history,
        metrics={key: value for result in scored for key, value in result.metrics.items()},
        predictions=pd.concat([result.predictions for result in scored], ignore_index=True),
        outputs=outputs,
        threshold=threshold,
    )
