"""Where evaluation joins training: per model, per job, per experiment.

The run layer calls these; evaluation decides what to compute and log.
"""
from __future__ import annotations

from pathlib import Path


def model_artifacts(outcome, task, entry, recipe, folder: Path) -> dict[str, float]:
    """Write a model run's evaluation artifacts under ``folder`` (logged with the run);
    return extra metrics for the model run."""
    return {}


def job_artifacts(client, job_run_id: str, records: list, recipe, entry) -> None:
    """Log a job run's evaluation artifacts once all its models are done."""


def experiment_artifacts(client, run_id: str, training) -> None:
    """Log the experiment run's evaluation artifacts after the summary."""
