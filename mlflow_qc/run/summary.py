"""The experiment run's summary: model and job tables, the best job's aggregates."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric, RunTag

from mlflow_qc.run.aggregate import jobs_table, models_table, rank_jobs
from mlflow_qc.run.plan import Job

METRICS_ARTIFACT = "qc/metrics.csv"
AGGREGATE_ARTIFACT = "qc/metrics_aggregate.csv"
RANKING_METRIC = "qc.ranking_metric"
HP_PREFIX = "hp."


def model_rows(training) -> list[dict]:
    rows = []
    for record in training.book.records.values():
        task = record.task
        rows.append(
            {
                "job_index": task.job.index,
                "job_key": task.job.key,
                "refit": task.job.refit,
                "fold_index": task.fold_index,
                "repeat_index": task.repeat_index,
                "run_id": record.run_id,
                "status": record.status,
                **{f"{HP_PREFIX}{k}": v for k, v in task.job.hyperparameters.items()},
                **record.metrics,
            }
        )
    return rows


def summarise(client, run_id: str, training) -> Job | None:
    """Log qc/metrics.csv, qc/metrics_aggregate.csv and the best job's aggregates; return the best job."""
    models = models_table(model_rows(training))
    if models.empty:
        return None
    finished = models[models["status"] == "FINISHED"]
    hp_columns = [c for c in models.columns if c.startswith(HP_PREFIX)]
    metric_columns = [c for c in models.columns if c not in hp_columns and c not in (
        "job_index", "job_key", "refit", "fold_index", "repeat_index", "run_id", "status")]
    jobs = jobs_table(finished, metric_columns, ["job_index", "job_key", "refit", *hp_columns])
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "qc").mkdir()
        models.to_csv(Path(tmp, METRICS_ARTIFACT), index=False)
        jobs.to_csv(Path(tmp, AGGREGATE_ARTIFACT), index=False)
        client.log_artifacts(run_id, tmp)
    metric = training.ranking_metric
    ranked = rank_jobs(jobs[~jobs["refit"]] if not jobs.empty else jobs, metric)
    tags = {
        RANKING_METRIC: metric,
        "qc.models_finished": str(len(finished)),
        "qc.models_failed": str(len(models) - len(finished)),
    }
    best = None
    if not ranked.empty:
        row = ranked.iloc[0]
        best = next(job for job in training.jobs if job.key == row["job_key"])
        tags.update({"qc.best_job_index": str(best.index), "qc.best_job_run_id": training.tree.job_runs[best.key]})
        now = int(time.time() * 1000)
        values = [Metric(k, float(row[k]), now, 0) for k in ranked.columns if k.endswith(("_mean", "_median", "_std", "_min", "_max"))]
        client.log_batch(run_id, metrics=values, tags=[RunTag(k, v) for k, v in tags.items()])
    else:
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    return best
