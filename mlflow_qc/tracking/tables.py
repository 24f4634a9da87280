"""An experiment run's tables: ``qc/metrics.csv`` (one row per model) and
``qc/metrics_aggregate.csv`` (one row per job), and ranking the jobs by a metric."""

from __future__ import annotations

import warnings

import mlflow
import numpy as np
import pandas as pd

from mlflow_qc.tracking.names import AGGREGATE_ARTIFACT, HP_PREFIX, METRICS_ARTIFACT, higher_is_better

# The columns of qc/metrics.csv that say which model a row is; the rest are hp.* and metrics.
IDENTITY_COLUMNS = (
    "job_index",
    "job_key",
    "refit",
    "baseline",
    "fold_index",
    "repeat_index",
    "run_id",
    "status",
    *("resource", "rung", "partial"),
)  # the last three: adaptive search only (README: "Adaptive search")
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


def flag(table: pd.DataFrame, column: str) -> pd.Series:
    """A true/false column of a table as booleans; all false when the table predates it (``baseline``)."""
    if column not in table.columns:
        return pd.Series(False, index=table.index)
    return table[column].astype(str).str.lower().eq("true")


def candidate_jobs(jobs: pd.DataFrame) -> pd.DataFrame:
    """The jobs that may be the best one: neither refit jobs (ranked through their twins), the baseline, nor
    an adaptive search's jobs below max_resource."""
    return jobs[~flag(jobs, "refit") & ~flag(jobs, "baseline") & ~flag(jobs, "partial")] if not jobs.empty else jobs


def rank_jobs(jobs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Jobs best first by the mean of ``metric`` over their models."""
    column = f"{metric}_mean"
    if column not in jobs.columns:
        return jobs.iloc[0:0]
    ranked = jobs.dropna(subset=[column])
    return ranked.sort_values(column, ascending=not higher_is_better(metric), kind="stable")


def hyperparameter_twin(jobs: pd.DataFrame, job: pd.Series, refit: bool) -> pd.Series | None:
    """The job of ``jobs`` (a refit one, or not) with the hyperparameters of ``job``: a refit job and the
    job it refit."""
    hyperparameters = [c for c in jobs.columns if c.startswith(HP_PREFIX)]
    pool = jobs[flag(jobs, "refit")] if refit else candidate_jobs(jobs)
    for _, other in pool.iterrows():
        if all(_same(other[c], job[c]) for c in hyperparameters):
            return other
    return None


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) if pd.isna(a) or pd.isna(b) else str(a) == str(b)


def sample_std(values, axis=None):
    """The sample standard deviation (ddof 1) ignoring NaN; NaN, without a warning, where fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    counts = np.sum(~np.isnan(values), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "degrees of freedom <= 0": answered NaN below
        std = np.nanstd(values, axis=axis, ddof=1)
    return np.where(counts > 1, std, np.nan) if np.ndim(std) else (float(std) if counts > 1 else np.nan)
