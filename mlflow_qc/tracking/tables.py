"""An experiment run's tables: ``qc/metrics.csv`` (one row per model) and
``qc/metrics_aggregate.csv`` (one row per job), and ranking the jobs by a metric."""
from __future__ import annotations

import mlflow
import pandas as pd

from mlflow_qc.tracking.names import AGGREGATE_ARTIFACT, METRICS_ARTIFACT, higher_is_better

# The columns of qc/metrics.csv that say which model a row is; the rest are hp.* and metrics.
IDENTITY_COLUMNS = ("job_index", "job_key", "refit", "fold_index", "repeat_index", "run_id", "status")
# What qc/progress.csv has beside the columns of qc/metrics.csv.
PROGRESS_COLUMNS = ("job_run_id", "reused", "seconds", "error")


def _csv(run_id: str, artifact: str) -> pd.DataFrame:
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact)
    return pd.read_csv(path)


def read_metrics(run_id: str) -> pd.DataFrame:
    """One row per model of the experiment run: identity, hyperparameters, ``{split}_{metric}``."""
    return _csv(run_id, METRICS_ARTIFACT)


def read_aggregates(run_id: str) -> pd.DataFrame:
    """One row per job: ``{split}_{metric}_{mean,median,std,min,max}`` over its models."""
    return _csv(run_id, AGGREGATE_ARTIFACT)


def rank_jobs(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Jobs best first by the mean of ``metric`` over their models."""
    column = f"{metric}_mean"
    if column not in jobs.columns:
        return jobs.iloc[0:0]
    ranked = jobs.dropna(subset=[column])
    return ranked.sort_values(column, ascending=not higher_is_better(metric), kind="stable")
