"""Where a comparison's numbers come from: an experiment run's ``qc/metrics.csv`` and ``qc/splits.json``."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.artifacts import run_artifact
from mlflow_qc.evaluate.comparison import context_sizes, model_frame, split_sizes
from mlflow_qc.split import Splits
from mlflow_qc.tracking.names import (
    EXPERIMENT,
    JOB,
    JOB_KEY,
    LEVEL,
    METRICS_ARTIFACT,
    PARENT,
    RANKING_METRIC,
    SPLITS_ARTIFACT,
    declare_directions_of,
)


@dataclass
class Source:
    models: pd.DataFrame  # job, hyperparameters, fold_index, repeat_index, metrics...
    sizes: dict[str, tuple[float, float]]
    ranking_metric: str | None
    title: str
    experiment_run_id: str


def models_frame(table: pd.DataFrame) -> pd.DataFrame:
    """qc/metrics.csv rows of finished, non-refit models -> the comparison's model table."""
    frame = model_frame(table)
    if frame.empty:
        raise QCError(METRICS_ARTIFACT, "no finished model outside refit jobs; expected at least one to compare")
    return frame


def _read(run, path: str, scratch: str) -> Path:
    try:
        return run_artifact(run.info.artifact_uri, path, scratch)
    except Exception as exc:  # MlflowException / OSError: say which run lacks it
        raise QCError(
            f"run {run.info.run_id}",
            f"{path} could not be read ({exc.__class__.__name__}); expected an experiment run of mlflow_qc",
        ) from None


def experiment_source(client: MlflowClient, run_id: str) -> Source:
    run = client.get_run(run_id)
    if run.data.tags.get(LEVEL) != EXPERIMENT:
        raise QCError("run_id", f"run {run_id} has {LEVEL}={run.data.tags.get(LEVEL)!r}; expected an experiment run")
    declare_directions_of(run.data.tags)  # its user metrics' directions (evaluation.metrics)
    with tempfile.TemporaryDirectory() as scratch:
        models = models_frame(pd.read_csv(_read(run, METRICS_ARTIFACT, scratch)))
        splits = Splits.from_dict(json.loads(_read(run, SPLITS_ARTIFACT, scratch).read_text()))
    title = f"Head-to-head: {run.info.run_name}"
    return Source(models, split_sizes(context_sizes(splits)), run.data.tags.get(RANKING_METRIC), title, run_id)


def load_models(run_id: str | None, run_ids: list[str] | None) -> Source:
    """An experiment run's jobs, or chosen job runs (read from their experiment runs' tables)."""
    client = MlflowClient()
    if run_id and not run_ids:
        return experiment_source(client, run_id)
    if not run_ids:
        raise QCError("compare", "no run given; expected an experiment run id or --run-ids of job runs")
    frames, sources, names = [], {}, {}
    for job_run_id in run_ids:
        job = client.get_run(job_run_id)
        if job.data.tags.get(LEVEL) != JOB:
            raise QCError("run_ids", f"run {job_run_id} has {LEVEL}={job.data.tags.get(LEVEL)!r}; expected job runs")
        parent = job.data.tags[PARENT]
        if parent not in sources:
            sources[parent] = experiment_source(client, parent)
        source = sources[parent]
        chosen = source.models[source.models["job_key"] == job.data.tags[JOB_KEY]]
        names[job_run_id] = job.info.run_name
        frames.append(
            chosen.assign(
                job=job.info.run_name
                if list(names.values()).count(job.info.run_name) == 1
                else f"{job.info.run_name} ({job_run_id[:8]})"
            )
        )
    title = f"Head-to-head: {', '.join(dict.fromkeys(f['job'].iloc[0] for f in frames if len(f)))}"
    first = next(iter(sources.values()))
    return Source(
        pd.concat(frames, ignore_index=True), first.sizes, first.ranking_metric, title, first.experiment_run_id
    )
