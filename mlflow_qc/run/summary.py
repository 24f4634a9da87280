"""The experiment run's summary: the model table (``qc/metrics.csv``), the job table
(``qc/metrics_aggregate.csv``), the best job and its aggregates."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
from mlflow.entities import Metric, RunTag

from mlflow_qc.run.aggregate import aggregate
from mlflow_qc.run.plan import ModelRecord
from mlflow_qc.tracking.names import (
    AGGREGATE_ARTIFACT,
    BEST_JOB_INDEX,
    BEST_JOB_RUN_ID,
    FINISHED,
    HP_PREFIX,
    METRICS_ARTIFACT,
    MODELS_FAILED,
    MODELS_FINISHED,
    PROGRESS_ARTIFACT,
    RANKING_METRIC,
    STATS,
)
from mlflow_qc.tracking.tables import IDENTITY_COLUMNS, PROGRESS_COLUMNS, candidate_jobs, rank_jobs


def models_table(records: list[ModelRecord]) -> pd.DataFrame:
    """One row per model: identity, ``hp.<name>`` per hyperparameter, then its split metrics; in tree order."""
    rows = []
    for record in records:
        task = record.task
        rows.append(
            {
                "job_index": task.job.index,
                "job_key": task.job.key,
                "refit": task.job.refit,
                "baseline": task.job.baseline,
                "fold_index": task.fold_index,
                "repeat_index": task.repeat_index,
                "run_id": record.run_id,
                "status": record.status,
                **_adaptive_columns(task.job),
                **{f"{HP_PREFIX}{k}": v for k, v in task.job.hyperparameters.items()},
                **record.metrics,
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values(
        ["job_index", "fold_index", "repeat_index"], na_position="first", kind="stable"
    ).reset_index(drop=True)


def _adaptive_columns(job) -> dict:
    """An adaptive search's jobs say their resource and rung, and whether they stopped below max_resource."""
    return {} if job.rung is None else {"resource": job.resource, "rung": job.rung, "partial": job.partial}


def log_progress(client, run_id: str, records: list[ModelRecord], job_run_ids: dict[str, str]) -> None:
    """``qc/progress.csv``: the model table of the models back so far, with what a tracker adds to it
    (the job run, whether the model was reused from an earlier run, its seconds, its error line)."""
    table = models_table(records)
    if not table.empty:
        extra = {record.run_id: record for record in records}
        job_run_id, reused, seconds, error = PROGRESS_COLUMNS
        table.insert(2, job_run_id, table["job_key"].map(job_run_ids))
        table[reused] = table["run_id"].map(lambda r: extra[r].reused)
        table[seconds] = table["run_id"].map(lambda r: extra[r].seconds)
        table[error] = table["run_id"].map(lambda r: extra[r].error_line)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, PROGRESS_ARTIFACT)
        path.parent.mkdir()
        table.to_csv(path, index=False)
        client.log_artifact(run_id, str(path), str(Path(PROGRESS_ARTIFACT).parent))


def jobs_table(models: pd.DataFrame) -> pd.DataFrame:
    """One row per job of the finished models: identity, hyperparameters, model count, aggregates."""
    hp_columns = [c for c in models.columns if c.startswith(HP_PREFIX)]
    metric_columns = [c for c in models.columns if c not in hp_columns and c not in IDENTITY_COLUMNS]
    optional = [c for c in ("baseline", "resource", "rung", "partial") if c in models.columns]
    id_columns = ["job_index", "job_key", "refit", *optional, *hp_columns]
    rows = []
    for _, group in models.groupby("job_index", sort=True):
        head = group.iloc[0]
        per_model = group[metric_columns].to_dict("records")
        rows.append({**{c: head[c] for c in id_columns}, "model_count": len(group), **aggregate(per_model)})
    return pd.DataFrame(rows)


def summarise(
    client, run_id: str, models: pd.DataFrame, ranking_metric: str, job_run_ids: dict[int, str]
) -> int | None:
    """Log qc/metrics.csv, qc/metrics_aggregate.csv and the best job's aggregates; return the best job's index.

    ``job_run_ids``: job index -> its run id.
    """
    if models.empty:
        return None
    finished = models[models["status"] == FINISHED]
    jobs = jobs_table(finished)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "qc").mkdir()
        models.to_csv(Path(tmp, METRICS_ARTIFACT), index=False)
        jobs.to_csv(Path(tmp, AGGREGATE_ARTIFACT), index=False)
        client.log_artifacts(run_id, tmp)
    ranked = rank_jobs(candidate_jobs(jobs), ranking_metric)
    tags = {
        RANKING_METRIC: ranking_metric,
        MODELS_FINISHED: str(len(finished)),
        MODELS_FAILED: str(len(models) - len(finished)),
    }
    if ranked.empty:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        return None
    row = ranked.iloc[0]
    best = int(row["job_index"])
    tags.update({BEST_JOB_INDEX: str(best), BEST_JOB_RUN_ID: job_run_ids[best]})
    now = int(time.time() * 1000)
    values = [Metric(k, float(row[k]), now, 0) for k in ranked.columns if k.endswith(tuple(f"_{s}" for s in STATS))]
    client.log_batch(run_id, metrics=values, tags=[RunTag(k, v) for k, v in tags.items()])
    return best
