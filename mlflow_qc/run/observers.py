"""What the training tells the rest of mlflow_qc, and when: the observer protocol.

The run layer trains and writes the run tree; evaluation (importance, reports), model
packaging and registration happen in observers it is handed (wired in by ``experiment.py``)
and never imports. Every method is optional (the base class does nothing):

- ``model_finished(event)``: in the process that trained the model (a worker), after its
  metrics and predictions exist and before the model run is logged. Files written under
  ``event.folder`` become the run's artifacts; ``event.metrics`` / ``event.tags`` entries
  are logged with it. An exception fails that model (and only it).
- ``model_failed(record)``: in the main process, when a model comes back FAILED.
- ``job_closed(client, event)``: in the main process, once every model of a job is back,
  before its run ends.
- ``experiment_closed(client, event)``: in the main process, after the experiment run's
  summary is logged and before the run ends; an exception fails the experiment run.

Observers travel to worker processes by pickling: keep them to plain settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mlflow_qc.cache import CacheEntry
    from mlflow_qc.run.fit_model import FittedModel
    from mlflow_qc.run.plan import ModelRecord, ModelTask


@dataclass
class ModelFinished:
    run_id: str
    task: ModelTask
    fitted: FittedModel
    entry: CacheEntry
    folder: Path  # logged as the model run's artifacts
    metrics: dict[str, float] = field(default_factory=dict)  # extra metrics for the model run
    tags: dict[str, str] = field(default_factory=dict)  # extra tags for the model run
    model_id: str | None = None  # the run's MLflow logged model, whose artifacts are the folder's model/


@dataclass
class JobClosed:
    run_id: str  # the job run
    records: list[ModelRecord]  # every model of the job, finished or not
    meta: dict  # the prepared cache entry's meta (classes, analysis type, contexts, input kinds)
    entry_root: str  # the prepared cache entry (arrays, fitted pipelines)


@dataclass
class ExperimentClosed:
    run_id: str
    name: str  # the recipe's
    analysis_type: str
    models: pd.DataFrame  # qc/metrics.csv: one row per model
    ranking_metric: str
    contexts: dict[str, dict[str, int]]  # split sizes of each context
    finished: int  # models that finished
    best_job_index: int | None
    job_run_ids: dict[str, str] = field(default_factory=dict)  # job key -> its job run (the baseline's too)


class TrainingObserver:
    """Base class of the observers the training calls (see the module docstring)."""

    def model_finished(self, event: ModelFinished) -> None:
        pass

    def model_failed(self, record: ModelRecord) -> None:
        pass

    def job_closed(self, client: MlflowClient, event: JobClosed) -> None:
        pass

    def experiment_closed(self, client: MlflowClient, event: ExperimentClosed) -> None:
        pass


def notify(observers, method: str, *args: Any) -> None:
    """Call ``method`` on every observer, in order."""
    for observer in observers:
        getattr(observer, method)(*args)
