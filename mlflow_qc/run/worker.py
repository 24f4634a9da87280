"""One model run: create it, train and evaluate, log everything in a few calls, end it.

Runs in the main process or in a worker process (joblib); it talks to MLflow through
an explicit client and parent-run tag, never the thread-local fluent run stack.
"""
from __future__ import annotations

import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_qc.evaluate import hooks as evaluation_hooks
from mlflow_qc.prepare import CacheEntry
from mlflow_qc.recipe import Recipe
from mlflow_qc.run.fit_model import ModelOutcome, fit_and_evaluate
from mlflow_qc.run.plan import ModelTask
from mlflow_qc.run.session import end_run_on_error, tune_sqlite_store
from mlflow_qc.run.tree import FINISHED, MODEL_URI, model_tags
from mlflow_qc.serve.pyfunc import MODEL_ARTIFACT, save_qc_model

PREDICTIONS_ARTIFACT = "qc/predictions.parquet"
BATCH = 1000  # MLflow's per-call metric limit


@dataclass(frozen=True)
class TaskEnvironment:
    """What every model task shares; pickled once per worker."""

    tracking_uri: str
    experiment_id: str
    resume_key: str
    recipe: Recipe
    entry_root: str


@dataclass
class ModelResult:
    task: ModelTask
    run_id: str
    status: str
    metrics: dict[str, float]
    error: str | None = None
    seconds: float = 0.0


def train_model(task: ModelTask, env: TaskEnvironment) -> ModelResult:
    started = time.time()
    tune_sqlite_store(env.tracking_uri)
    client = MlflowClient(env.tracking_uri)
    run = client.create_run(env.experiment_id, tags=model_tags(env.resume_key, task))
    run_id = run.info.run_id
    try:
        entry = CacheEntry(env.entry_root)
        outcome = fit_and_evaluate(task, env.recipe, entry)
        log_outcome(client, run_id, task, outcome, entry, env.recipe, started)
        client.set_terminated(run_id, FINISHED)
        return ModelResult(task, run_id, FINISHED, outcome.metrics, seconds=time.time() - started)
    except Exception as exc:
        end_run_on_error(client, run_id, exc)
        error = "".join(traceback.format_exception(exc))
        return ModelResult(task, run_id, "FAILED", {}, error=error, seconds=time.time() - started)
    except BaseException as exc:  # interrupted: end the run KILLED, then stop
        end_run_on_error(client, run_id, exc)
        raise


def log_outcome(client: MlflowClient, run_id: str, task: ModelTask, outcome: ModelOutcome, entry: CacheEntry, recipe: Recipe, started: float) -> None:
    now = int(time.time() * 1000)
    params = {**task.job.hyperparameters, "fold_index": task.fold_index, "repeat_index": task.repeat_index, "seed": task.seed}
    metrics = [Metric(key, value, now, 0) for key, value in outcome.metrics.items()]
    metrics += [
        Metric(key, float(value), now, step)
        for key, values in outcome.history.items()
        for step, value in enumerate(values)
    ]
    metrics.append(Metric("train_seconds", time.time() - started, now, 0))
    with tempfile.TemporaryDirectory() as tmp:
        predictions = Path(tmp, PREDICTIONS_ARTIFACT)
        predictions.parent.mkdir(parents=True)
        outcome.predictions.to_parquet(predictions, index=False)
        save_qc_model(Path(tmp, MODEL_ARTIFACT), outcome, entry, task.context)
        extra = evaluation_hooks.model_artifacts(outcome, task, entry, recipe, Path(tmp))
        client.log_artifacts(run_id, tmp)
    metrics += [Metric(key, float(value), now, 0) for key, value in extra.items()]
    tags = [RunTag(MODEL_URI, f"runs:/{run_id}/{MODEL_ARTIFACT}")]
    client.log_batch(run_id, metrics=metrics[:BATCH], params=[Param(k, str(v)) for k, v in params.items()], tags=tags)
    for start in range(BATCH, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])
