"""The experiment list (``/qc/``): every experiment run of the store with its state and counts.

Counts come from the experiment run's own tags, which the trainer keeps current while it
trains, so the list reads one run per experiment whatever the number of models.
"""

from __future__ import annotations

import os
import socket

from mlflow.entities import Run

from mlflow_qc.tracking.names import (
    BEST_JOB_INDEX,
    BEST_JOB_RUN_ID,
    ERROR_LINE,
    HOST,
    LAUNCHER_PID,
    MODELS_FAILED,
    MODELS_FINISHED,
    MODELS_PLANNED,
    PID,
    RANKING_METRIC,
    RUNNING,
)
from mlflow_qc.tracking.queries import active_experiments, experiment_runs
from mlflow_qc.ui.store import Store

STOPPED = "stopped"  # RUNNING in the store, but the process that trained it is gone (SIGKILL, a crash)


def process_gone(tags: dict) -> bool:
    """Whether the processes named by a run's ``qc.pid``/``qc.launcher_pid``/``qc.host`` tags have exited (this host only)."""
    pids = [tags[name] for name in (PID, LAUNCHER_PID) if tags.get(name)]
    if tags.get(HOST) != socket.gethostname() or not pids:
        return False
    return not any(_process_exists(pid) for pid in pids)


def _process_exists(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def run_state(run: Run) -> str:
    """running, finished, failed, killed, or stopped (RUNNING with its process gone)."""
    if run.info.status == RUNNING and process_gone(run.data.tags):
        return STOPPED
    return run.info.status.lower()


def count(tags: dict, name: str) -> int | None:
    value = tags.get(name)
    return int(value) if value is not None and value.isdigit() else None


def experiment_row(run: Run, experiment_name: str) -> dict:
    tags, metrics = run.data.tags, run.data.metrics
    metric = tags.get(RANKING_METRIC)
    best = metrics.get(f"{metric}_mean") if metric else None
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "experiment_name": experiment_name,
        "state": run_state(run),
        "start_ms": run.info.start_time,
        "end_ms": run.info.end_time,
        "finished": count(tags, MODELS_FINISHED),
        "failed": count(tags, MODELS_FAILED),
        "planned": count(tags, MODELS_PLANNED),
        "best_job_index": tags.get(BEST_JOB_INDEX),
        "best_job_run_id": tags.get(BEST_JOB_RUN_ID),
        "ranking_metric": metric,
        "best_score": best,
        "error": tags.get(ERROR_LINE),
    }


def experiment_list(store: Store) -> dict:
    """The experiment runs of the experiments the request's user may read."""
    experiments = {e.experiment_id: e.name for e in active_experiments(store.client)}
    experiments = {key: experiments[key] for key in store.readable_ids(list(experiments))}
    runs = experiment_runs(store.client, list(experiments))
    return {"experiments": [experiment_row(run, experiments.get(run.info.experiment_id, "")) for run in runs]}
