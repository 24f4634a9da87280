"""Bookkeeping per job: which models finished or failed, and closing fold and job runs.

A fold run gets the aggregates over its repeats, a job run over all its models; each
ends FINISHED when all its models finished, FAILED (with the first traceback) otherwise.
Observers hear of a job once all its models are back, before its run ends.
"""

from __future__ import annotations

import time
from collections import defaultdict

from mlflow.entities import Metric, Param

from mlflow_qc.run.aggregate import aggregate, split_metrics
from mlflow_qc.run.model_run import Closing, finish_runs
from mlflow_qc.run.observers import JobClosed, notify
from mlflow_qc.run.plan import Job, ModelRecord, ModelTask
from mlflow_qc.run.tree import RunTree
from mlflow_qc.tracking.names import ERROR_ARTIFACT, FAILED, FINISHED


class JobBook:
    def __init__(self, tree: RunTree, analysis_type: str, entry, observers=(), user_metric_names=()):
        self.tree = tree
        self.analysis_type = analysis_type
        self.user_metric_names = tuple(user_metric_names)  # evaluation.metrics, aggregated like built-in ones
        self.entry = entry
        self.observers = observers
        self.expected: dict[str, list[ModelTask]] = defaultdict(list)
        self.records: dict[tuple, ModelRecord] = {}
        self.closed: set[str] = set()

    def expect(self, tasks: list[ModelTask]) -> None:
        for task in tasks:
            self.expected[task.job.key].append(task)

    def record(self, record: ModelRecord) -> Job | None:
        """Store a model's outcome; returns its job when that job is now complete."""
        record.metrics = split_metrics(record.metrics, self.analysis_type, self.user_metric_names)
        self.records[record.task.identity] = record
        key = record.task.job.key
        if all(t.identity in self.records for t in self.expected[key]) and key not in self.closed:
            return record.task.job
        return None

    def models_of(self, job: Job) -> list[ModelRecord]:
        return [self.records[t.identity] for t in self.expected[job.key] if t.identity in self.records]

    def close(self, job: Job) -> dict[str, float]:
        """Log fold and job aggregates, end their runs; returns the job's aggregates."""
        records = self.models_of(job)
        by_fold = defaultdict(list)
        for record in records:
            if record.task.fold_index is not None:
                by_fold[record.task.fold_index].append(record)
        folds = [
            self._closing(self.tree.fold_run(job, fold_index), fold_records, params={"fold_index": str(fold_index)})
            for fold_index, fold_records in sorted(by_fold.items())
        ]
        finish_runs(self.tree.client, folds)
        job_run_id = self.tree.job_run(job)
        notify(
            self.observers,
            "job_closed",
            self.tree.client,
            JobClosed(job_run_id, records, self.entry.meta, str(self.entry.root)),
        )
        closing = self._closing(job_run_id, records)
        finish_runs(self.tree.client, [closing])
        self.closed.add(job.key)
        return {metric.key: metric.value for metric in closing.metrics}

    def _closing(self, run_id: str, records: list[ModelRecord], params: dict[str, str] | None = None) -> Closing:
        """What ends a fold or job run: its status and aggregates (and a fold run's params, logged here to
        save a round trip); a failed model's traceback is logged on it now."""
        finished = [r.metrics for r in records if r.finished]
        aggregates = aggregate(finished)
        now = int(time.time() * 1000)
        failures = [r for r in records if not r.finished]
        if failures:
            self.tree.client.log_text(
                run_id, "\n\n".join(f"# {r.task.name}\n{r.error}" for r in failures), ERROR_ARTIFACT
            )
        return Closing(
            run_id,
            FAILED if failures else FINISHED,
            [Metric(k, v, now, 0) for k, v in aggregates.items()],
            [Param(k, v) for k, v in (params or {}).items()],
        )

    @property
    def failures(self) -> list[ModelRecord]:
        return [r for r in self.records.values() if not r.finished]

    @property
    def finished(self) -> list[ModelRecord]:
        return [r for r in self.records.values() if r.finished]
