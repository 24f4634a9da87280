"""Evaluation as training observers: importance per model, a report per job and per experiment.

A report that cannot be built must not stop a long training: its traceback goes to
``qc/report_error.txt`` on that run and a warning is printed. Importance is part of the
model's result and fails it. The figures' modules load only when a report is built.
"""

from __future__ import annotations

import traceback
import warnings

from mlflow_qc.run.observers import ExperimentClosed, JobClosed, ModelFinished, TrainingObserver
from mlflow_qc.tracking.names import FINISHED, REPORT_ERROR
from mlflow_qc.tracking.queries import runs_by_id


class Importance(TrainingObserver):
    """Permutation importance of every model on its evaluation split (``trainer.permute_count``):
    ``qc/importance.csv``, no metric per column (the MLflow UI would chart each as a lone bar)."""

    def __init__(self, permute_count: int):
        self.permute_count = permute_count

    def model_finished(self, event: ModelFinished) -> None:
        from mlflow_qc.evaluate.importance_run import model_importance, write_importance

        fitted, task = event.fitted, event.task
        table = model_importance(
            fitted.adapter,
            fitted.model,
            event.entry,
            task.data_context,
            task.job.hyperparameters,
            self.permute_count,
            task.seed,
        )
        if table.empty:
            return  # image inputs only: the job report says importance is not computed for them
        write_importance(table, event.folder)


class PerClass(TrainingObserver):
    """``qc/per_class.csv`` of every classifier: support, precision, recall and f1 per split and class."""

    def model_finished(self, event: ModelFinished) -> None:
        from mlflow_qc.evaluate.per_class import write_per_class

        write_per_class(event.fitted, event.folder)


def report_safely(client, run_id: str, build) -> None:
    try:
        build()
    except Exception as exc:
        text = "".join(traceback.format_exception(exc))
        warnings.warn(f"the evaluation report of run {run_id} failed: {exc}", RuntimeWarning, stacklevel=3)
        try:
            client.log_text(run_id, text, REPORT_ERROR)
        except Exception:
            pass


class JobReport(TrainingObserver):
    """``qc/report.html`` + ``qc/report.json`` of a job from its finished models' runs."""

    def job_closed(self, client, event: JobClosed) -> None:
        from mlflow_qc.cache import CacheEntry
        from mlflow_qc.evaluate.job_report import log_job_report

        def build():
            finished = [record.run_id for record in event.records if record.status == FINISHED]
            if finished:
                job = client.get_run(event.run_id)
                runs = runs_by_id(client, job.info.experiment_id, finished)
                log_job_report(client, event.run_id, runs, CacheEntry(event.entry_root), job)

        report_safely(client, event.run_id, build)


class BaselineVerdict(TrainingObserver):
    """``trainer.baseline``: each job run (and the experiment run, for its best job) gets ``qc.beats_baseline``
    and ``baseline_p_value`` on the ranking metric, before the report and the registration read them."""

    def experiment_closed(self, client, event: ExperimentClosed) -> None:
        from mlflow_qc.evaluate.baseline_tags import tag_verdicts

        tag_verdicts(client, event)


class ExperimentReport(TrainingObserver):
    """The experiment run's report (boomerang, leaderboard, head-to-head) and ``qc/compare.md``."""

    def experiment_closed(self, client, event: ExperimentClosed) -> None:
        from mlflow_qc.evaluate.experiment_report import log_experiment_report

        report_safely(client, event.run_id, lambda: log_experiment_report(client, event))
