"""Where evaluation joins training: per model, per job, per experiment.

The run layer calls these; evaluation decides what to compute and log. A report that cannot
be built must not stop a long training: its traceback goes to ``qc/report_error.txt`` on
that run and a warning is printed. Importance is part of the model's result and fails it.
"""
from __future__ import annotations

import traceback
import warnings
from pathlib import Path

from mlflow_qc.evaluate.importance import importance_metrics

REPORT_ERROR = "qc/report_error.txt"


def model_artifacts(outcome, task, entry, recipe, folder: Path) -> dict[str, float]:
    """Write a model run's evaluation artifacts under ``folder`` (logged with the run);
    return extra metrics for the model run."""
    permute_count = recipe.trainer.permute_count
    if permute_count <= 0:
        return {}
    from mlflow_qc.evaluate.importance_run import model_importance, write_importance

    table = model_importance(outcome.adapter, outcome.model, entry, task.context, task.job.hyperparameters, permute_count, task.seed)
    write_importance(table, folder)
    return importance_metrics(table)


def _report_safely(client, run_id: str, build) -> None:
    try:
        build()
    except Exception as exc:
        text = "".join(traceback.format_exception(exc))
        warnings.warn(f"the evaluation report of run {run_id} failed: {exc}", RuntimeWarning, stacklevel=3)
        try:
            client.log_text(run_id, text, REPORT_ERROR)
        except Exception:
            pass


def job_artifacts(client, job_run_id: str, records: list, recipe, entry) -> None:
    """Log a job run's evaluation artifacts once all its models are done."""
    from mlflow_qc.evaluate.job_report import log_job_report

    def build():
        runs = [client.get_run(record.run_id) for record in records if record.status == "FINISHED"]
        if runs:
            log_job_report(client, job_run_id, runs, entry.meta)

    _report_safely(client, job_run_id, build)


def experiment_artifacts(client, run_id: str, training) -> None:
    """Log the experiment run's evaluation artifacts after the summary."""
    from mlflow_qc.evaluate.experiment_report import log_experiment_report

    _report_safely(client, run_id, lambda: log_experiment_report(client, run_id, training))
