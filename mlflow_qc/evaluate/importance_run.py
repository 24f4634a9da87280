"""Permutation importance of trained models on the cached preprocessed arrays.

During training (``model_importance`` from the worker's hook) and after the fact for runs
trained with ``permute_count: 0`` (``importance_after_the_fact``): both log
``qc/importance.csv`` and ``importance_<column>`` metrics on the model run. The evaluation
split is the one the model watched while training (fold_validation, else validation), else
train; nothing is preprocessed again.
"""
from __future__ import annotations

import ast
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_qc import cache
from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.artifacts import run_artifact
from mlflow_qc.evaluate.metrics import fast_log_loss, fast_squared_error, probabilities_by_class
from mlflow_qc.evaluate.importance import column_groups, importance_metrics, permutation_importance
from mlflow_qc.prepare import CacheEntry
from mlflow_qc.run.prepare_run import CACHE_KEY_TAG
from mlflow_qc.run.tree import FOLD_INDEX, JOB_KEY, LEVEL, PARENT, RESUME_KEY, search_all
from mlflow_qc.serve.pyfunc import DATA_DIR, META_FILE, MODEL_ARTIFACT, MODEL_DIR

IMPORTANCE_ARTIFACT = "qc/importance.csv"
EVALUATION_PREFERENCE = ("fold_validation", "validation", "train")
MODEL_DATA = f"{MODEL_ARTIFACT}/data/{DATA_DIR}"  # the pyfunc's data folder
NOT_HYPERPARAMETERS = {"fold_index", "repeat_index", "seed"}


def importance_split(split_names) -> str:
    return next(name for name in EVALUATION_PREFERENCE if name in split_names)


def model_importance(adapter, model, entry: CacheEntry, context: str, hyperparameters: dict, permute_count: int, seed: int) -> pd.DataFrame:
    """The importance table of one model on its context's evaluation split (see ``importance``)."""
    split = importance_split(entry.split_names(context))
    data = entry.load(context, split, mmap=False)
    pipeline = entry.pipeline(context)
    label = np.asarray(data.label)
    groups = column_groups(pipeline.feature_names, [f.shape[-1] for f in data.features], pipeline.raw_columns)
    predict = lambda features: adapter.predict(model, features)  # noqa: E731
    loss = adapter_loss(adapter, model, label, hyperparameters, predict(list(data.features)))
    table = permutation_importance(predict, loss, list(data.features), groups, permute_count, seed)
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


# --- after the fact ---------------------------------------------------------------------


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def experiment_run_of(client: MlflowClient, run):
    while run.data.tags.get(LEVEL) != "experiment":
        parent = run.data.tags.get(PARENT)
        if not parent:
            raise QCError(f"run {run.info.run_id}", "no experiment run above it; expected a run of an mlflow_qc training")
        run = client.get_run(parent)
    return run


def model_runs_below(client: MlflowClient, run) -> list:
    """The finished model runs of a model, fold, job or experiment run."""
    tags = run.data.tags
    level = tags.get(LEVEL)
    if level == "model":
        return [run]
    if level not in ("fold", "job", "experiment"):
        raise QCError("run_id", f"run {run.info.run_id} has qc.level={level!r}; expected a model, fold, job or experiment run")
    query = f"tags.`{LEVEL}` = 'model' and attributes.status = 'FINISHED' and tags.`{RESUME_KEY}` = '{tags[RESUME_KEY]}'"
    if level in ("fold", "job"):
        query += f" and tags.`{JOB_KEY}` = '{tags[JOB_KEY]}'"
    if level == "fold":
        query += f" and tags.`{FOLD_INDEX}` = '{tags[FOLD_INDEX]}'"
    return search_all(client, run.info.experiment_id, query)


def cache_entry_of(experiment_run) -> CacheEntry:
    key = experiment_run.data.tags.get(CACHE_KEY_TAG)
    root = cache.entry_path(key) if key else None
    if root is None or not cache.is_complete(root):
        raise QCError(
            f"run {experiment_run.info.run_id}",
            f"its prepared arrays (cache entry {key}) are not in {cache.cache_root()}; "
            "expected them there: run `mlflow-qc prepare` with the same recipe first",
        )
    return CacheEntry(root)


def _importance_of_run(client: MlflowClient, run, entry: CacheEntry, permute_count: int) -> dict[str, float]:
    from mlflow_qc.models import load_trained

    params = run.data.params
    hyperparameters = {k: _parse(v) for k, v in params.items() if k not in NOT_HYPERPARAMETERS}
    with tempfile.TemporaryDirectory() as tmp:
        folder = run_artifact(run.info.artifact_uri, MODEL_DATA, tmp)
        context = json.loads((folder / META_FILE).read_text())["context"]
        adapter, model = load_trained(folder / MODEL_DIR)
        table = model_importance(adapter, model, entry, context, hyperparameters, permute_count, int(params.get("seed", 0)))
        out = Path(tmp, "out")
        write_importance(table, out)
        client.log_artifacts(run.info.run_id, str(out))
    metrics = importance_metrics(table)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    return metrics


def importance_after_the_fact(run_id: str, permute_count: int) -> list[str]:
    """Importance for every finished model run below ``run_id``; rebuilds their jobs' reports."""
    if permute_count < 1:
        raise QCError("permute_count", f"{permute_count}; expected at least 1")
    client = MlflowClient()
    run = client.get_run(run_id)
    experiment_run = experiment_run_of(client, run)
    entry = cache_entry_of(experiment_run)
    models = model_runs_below(client, run)
    for model_run in models:
        _importance_of_run(client, model_run, entry, permute_count)
    from mlflow_qc.evaluate.job_report import refresh_job_reports

    refresh_job_reports(client, models, entry.meta)
    return [m.info.run_id for m in models]
