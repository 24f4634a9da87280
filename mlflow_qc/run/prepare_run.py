"""Recording a preparation on an MLflow run: recipe, datasets, splits, and optionally the arrays."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_qc.data.source import log_datasets
from mlflow_qc.prepare import Prepared, prepare
from mlflow_qc.recipe import Recipe
from mlflow_qc.run.session import experiment_run, recipe_params
from mlflow_qc.tracking.names import (
    CACHE_KEY,
    DATA_RESTORABLE,
    DATA_UNRESTORABLE,
    PREPARE,
    PREPARED_ARTIFACT,
    RECIPE_ARTIFACT,
    SPLITS_ARTIFACT,
)


def log_preparation(client: MlflowClient, run_id: str, recipe: Recipe, prepared: Prepared) -> None:
    unrestorable = unrestorable_data(prepared)
    restorable = {DATA_RESTORABLE: "false" if unrestorable else "true"}
    if unrestorable:
        restorable[DATA_UNRESTORABLE] = unrestorable
        print(f"warning: `mlflow-qc data get` cannot restore this run's data: {unrestorable}", file=sys.stderr)
    client.log_batch(
        run_id,
        params=[Param(k, v) for k, v in recipe_params(recipe).items()],
        tags=[RunTag(CACHE_KEY, prepared.key), *(RunTag(k, v) for k, v in restorable.items())],
    )
    client.log_text(run_id, recipe.to_yaml(), RECIPE_ARTIFACT)
    client.log_text(run_id, prepared.splits.to_json(), SPLITS_ARTIFACT)
    log_datasets(client, run_id, prepared.dataset_versions)


def unrestorable_data(prepared: Prepared) -> str | None:
    """One line naming each dataset whose bytes a run cannot promise back, and why; None when all can be."""
    reasons = {}
    for dataset, version in prepared.dataset_versions:
        reason = version.unrestorable
        if reason:
            name = os.path.basename(version.path) if version.path else dataset.where
            reasons.setdefault(reason, []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())[:1000] or None


def export_prepared(client: MlflowClient, run_id: str, prepared: Prepared) -> None:
    """Log every context's arrays as ``qc/prepared/{context}/{split}/{features_I|label}.parquet``."""
    entry = prepared.entry
    with tempfile.TemporaryDirectory() as tmp:
        for context in entry.contexts:
            names = entry.pipeline(
                context
            ).feature_names  # each context's own: its categories came from its training rows
            for split in entry.split_names(context):
                arrays = entry.load(context, split)
                folder = Path(tmp, context, split)
                folder.mkdir(parents=True)
                for i, features in enumerate(arrays.features):
                    _write(features, names[i], folder / f"features_{i}")
                if arrays.label is not None:
                    _write(arrays.label, label_columns(entry.meta, arrays.label.shape[1]), folder / "label")
        client.log_artifacts(run_id, tmp, PREPARED_ARTIFACT)


def label_columns(meta: dict, width: int) -> list[str]:
    name, classes = meta["label_name"], meta["classes"]
    if width == 1:
        return [name]
    if classes is not None and len(classes) == width:
        return [f"{name}={c}" for c in classes]
    return [f"{name}_{j}" for j in range(width)]


def _write(array: np.ndarray, columns: list[str], stem: Path) -> None:
    if array.ndim == 2:
        pd.DataFrame(np.asarray(array), columns=columns).to_parquet(f"{stem}.parquet", index=False)
    else:
        np.save(f"{stem}.npy", np.asarray(array))


def run_prepare(recipe: Recipe, export: bool = False) -> str:
    """The ``prepare`` command: validate and prepare (before any run exists), then record it."""
    prepared = None if os.environ.get("MLFLOW_RUN_ID") else prepare(recipe)
    with experiment_run(recipe, level=PREPARE) as (client, run):
        prepared = prepared or prepare(recipe)
        log_preparation(client, run.info.run_id, recipe, prepared)
        if export:
            export_prepared(client, run.info.run_id, prepared)
    return run.info.run_id
