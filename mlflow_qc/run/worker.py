"""One model run: train and evaluate it, let the observers add to it, write it (run/model_run.py: on a SQL
store in two transactions, at its start and its end).

Runs in the main process or in a worker process (joblib, Dask); it talks to MLflow through
an explicit client and parent-run tag, never the thread-local fluent run stack.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_qc.cache import CacheEntry
from mlflow_qc.models.base import ModelContractError
from mlflow_qc.recipe import Architecture
from mlflow_qc.run.faults import fault_of, tracking_unreachable
from mlflow_qc.run.fit_model import FittedModel, fit_and_evaluate
from mlflow_qc.run.model_run import ModelRun, open_run
from mlflow_qc.run.observers import ModelFinished, notify
from mlflow_qc.run.plan import ModelRecord, ModelTask
from mlflow_qc.run.tree import model_tags
from mlflow_qc.tracking.names import (
    FAILED,
    FINISHED,
    FIT_SECONDS,
    KILLED,
    MODEL_ARTIFACT,
    PREDICTIONS_ARTIFACT,
    RESUMED_FROM,
    THRESHOLD_PARAM,
)
from mlflow_qc.tracking.store import prepare_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskEnvironment:
    """What every model task shares; pickled once per worker."""

    tracking_uri: str
    experiment_id: str
    resume_key: str
    architecture: Architecture
    entry_root: str
    observers: tuple = ()
    hide_test: bool = False  # trainer.hide_test: the test split is not evaluated
    threshold: str | float | None = None  # trainer.threshold: a rule (f1, youden) or a fixed number
    user_metrics: tuple = ()  # evaluation.metrics as models.user_metrics.UserMetric (their source travels)


def train_model(task: ModelTask, env: TaskEnvironment, wanted: Callable[[], bool] | None = None) -> ModelRecord:
    """``wanted``: asked before the run is marked FINISHED; False (the client that asked for this
    model is gone, e.g. a Dask task cancelled) ends it KILLED, so a rerun never finds two."""
    try:
        return _train_model(task, env, wanted)
    except Exception as exc:
        if tracking_unreachable(exc):  # one picklable line, whichever process this runs in
            raise fault_of(exc, env.tracking_uri) from exc
        raise


def _train_model(task: ModelTask, env: TaskEnvironment, wanted: Callable[[], bool] | None) -> ModelRecord:
    started = time.time()
    client = _client(env.tracking_uri)
    run = open_run(client, env.experiment_id, model_tags(env.resume_key, task), model_name=MODEL_ARTIFACT)
    run_id = run.run_id
    log.debug("model %s started: run %s", task.name, run_id)
    try:
        entry = _entry(env.entry_root)
        fitted = fit_and_evaluate(
            task,
            env.architecture,
            entry,
            env.hide_test,
            env.threshold,
            env.user_metrics,
            scope=f"{env.experiment_id}:{env.resume_key}",
        )
        logged = log_model_run(run, task, fitted, entry, env.observers, started)
        if wanted is not None and not wanted():
            run.end(KILLED, *logged)
            return ModelRecord(task, run_id, KILLED, {}, error="no longer wanted", seconds=time.time() - started)
        run.end(FINISHED, *logged)
        log.debug("model %s finished in %.1f s: run %s", task.name, time.time() - started, run_id)
        return ModelRecord(task, run_id, FINISHED, fitted.metrics, seconds=time.time() - started)
    except Exception as exc:
        if tracking_unreachable(exc):
            raise  # nothing can be recorded; the trainer stops and a rerun resumes
        run.fail(exc)
        log.debug("model %s failed: %s", task.name, exc)
        error = "".join(traceback.format_exception(exc))
        stop = exc if isinstance(exc, ModelContractError) else fault_of(exc, env.tracking_uri)
        return ModelRecord(task, run_id, FAILED, {}, error=error, seconds=time.time() - started, stop=stop)
    except BaseException as exc:  # interrupted: end the run KILLED, then stop
        run.fail(exc)
        raise


@functools.lru_cache(maxsize=4)
def _client(tracking_uri: str) -> MlflowClient:
    """One client per store and process (a new sqlite store created under mlflow-qc's lock)."""
    prepare_store(tracking_uri)
    return MlflowClient(tracking_uri)


@functools.lru_cache(maxsize=4)
def _entry(root: str) -> CacheEntry:
    """A cache entry never changes (content-keyed): its meta and splits are read once per process."""
    return CacheEntry(root)


def log_model_run(
    run: ModelRun, task: ModelTask, fitted: FittedModel, entry: CacheEntry, observers, started: float
) -> tuple[list[Metric], list[Param], list[RunTag], list[Metric]]:
    """Predictions and whatever the observers add as artifacts (``model/`` also the logged model's); returns the
    metrics, params and tags that end the run (one batch) and the split metrics its logged model gets too."""
    run_id = run.run_id
    now = int(time.time() * 1000)
    params = {
        **task.job.hyperparameters,
        "fold_index": task.fold_index,
        "repeat_index": task.repeat_index,
        "seed": task.seed,
    }
    if fitted.threshold is not None:
        params[THRESHOLD_PARAM] = repr(fitted.threshold)
    params.update(task.job.resource_params)  # adaptive search
    metrics = [Metric(key, value, now, 0) for key, value in fitted.metrics.items()]
    metrics += [
        Metric(key, float(value), now, step)
        for key, values in fitted.history.items()
        for step, value in enumerate(values)
    ]
    metrics.append(Metric(FIT_SECONDS, time.time() - started, now, 0))
    with run.artifact_folder() as folder:
        predictions = folder / PREDICTIONS_ARTIFACT
        predictions.parent.mkdir(parents=True, exist_ok=True)
        fitted.write_predictions(predictions)
        event = ModelFinished(run_id, task, fitted, entry, folder, model_id=run.model_id)
        notify(observers, "model_finished", event)
        if (folder / MODEL_ARTIFACT / "MLmodel").is_file():
            run.log_model_folder(folder / MODEL_ARTIFACT)
    split_metrics = metrics[: len(fitted.metrics)]
    metrics = metrics[len(fitted.metrics) :] + [
        Metric(key, float(value), now, 0) for key, value in event.metrics.items()
    ]
    tags = [RunTag(key, value) for key, value in event.tags.items()]
    if fitted.resumed_from is not None:
        tags.append(RunTag(RESUMED_FROM, str(fitted.resumed_from)))
    return metrics, [Param(k, str(v)) for k, v in params.items()], tags, split_metrics
