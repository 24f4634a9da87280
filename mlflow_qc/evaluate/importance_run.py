"""Permutation importance of a trained model on the cached preprocessed arrays.

The evaluation split is the one the model watched while training (fold_validation, else
validation), else train; nothing is preprocessed again. Used while training (the
``Importance`` observer, in the worker) and after the fact (``importance_after``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.cache import CacheEntry
from mlflow_qc.evaluate.importance import column_groups, permutation_importance
from mlflow_qc.models.metrics import fast_log_loss, fast_squared_error
from mlflow_qc.models.outputs import probabilities_by_class
from mlflow_qc.tracking.names import IMPORTANCE_ARTIFACT, evaluation_split

UNPERMUTED_KINDS = ("image",)  # a shuffled channel of every pixel says little about an image model


def importance_split(split_names) -> str:
    """The split a model watched while training, else train."""
    return evaluation_split(split_names) or "train"


def model_importance(
    adapter,
    model,
    entry: CacheEntry,
    context: str,
    hyperparameters: dict,
    permute_count: int,
    seed: int,
    batch_bytes: int | None = None,
) -> pd.DataFrame:
    """The importance table of one model on its context's evaluation split (see ``importance``);
    ``batch_bytes`` bounds the stacked permuted copies of one predict call (None: the default)."""
    split = importance_split(entry.split_names(context))
    data = entry.load(context, split, mmap=False)
    pipeline = entry.pipeline(context)
    label = np.asarray(data.label)
    groups = [
        group
        for group in column_groups(pipeline.feature_names, [f.shape[-1] for f in data.features], pipeline.raw_columns)
        if pipeline.kinds[group.input_index] not in UNPERMUTED_KINDS
    ]
    if not groups:
        return pd.DataFrame()
    predict = lambda features: adapter.predict(model, features)  # noqa: E731
    loss = adapter_loss(adapter, model, label, hyperparameters, predict(list(data.features)))
    table = permutation_importance(
        predict,
        loss,
        list(data.features),
        groups,
        permute_count,
        seed,
        **({} if batch_bytes is None else {"batch_bytes": batch_bytes}),
    )
    table.insert(0, "split", split)
    return table


def adapter_loss(adapter, model, label: np.ndarray, hyperparameters: dict, baseline_output: np.ndarray):
    """The adapter's loss as a function of the output; for scikit-learn a vectorised equal of its
    log loss / squared error (sklearn's input checks cost milliseconds per call), used only when
    it agrees with the adapter's on the unpermuted output."""

    def exact(output):
        return adapter.loss(model, label, output, dict(hyperparameters))

    if adapter.library != "sklearn":
        return exact
    if adapter.is_classification:
        truth = adapter.class_index(label)

        def fast(output):
            return fast_log_loss(truth, probabilities_by_class(output))
    else:

        def fast(output):
            return fast_squared_error(label, output)

    return fast if np.isclose(fast(baseline_output), exact(baseline_output), rtol=1e-9, atol=1e-12) else exact


def write_importance(table: pd.DataFrame, folder: Path) -> Path:
    path = Path(folder) / IMPORTANCE_ARTIFACT
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path
