"""A run's writes to the store through MLflow's public calls (any store).

A model run is an MLflow 3 run with one *logged model* (its ``model/``): the logged model's
source run is the model run, its params are the run's, its metrics the run's split metrics, and
the run lists it among its outputs. ``create_run`` + ``create_logged_model`` + ``log_outputs`` at
the start, ``log_batch`` (metrics carrying the ``model_id``) + ``log_model_params`` +
``finalize_logged_model`` + ``set_terminated`` at the end. Fold and job runs end with
``log_batch`` + ``set_terminated`` (``Closing``). run/model_run.py chooses between this and the
fast way (run/model_run_sqlite.py).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.run.session import end_run_on_error
from mlflow_qc.tracking.artifact_location import local_artifact_folder

BATCH = 1000  # MLflow's per-call metric limit


class ModelRun:
    """The public calls: the run (and its logged model) exist from the start, are logged in batches, then ended."""

    def __init__(
        self,
        client: MlflowClient,
        experiment_id: str,
        tags: dict[str, str],
        params: list[Param] = (),
        model_name: str | None = None,
    ):
        self.client = client
        info = client.create_run(experiment_id, tags=tags).info
        self.run_id, self.artifact_uri = info.run_id, info.artifact_uri
        if params:
            client.log_batch(self.run_id, params=list(params))
        self.model_id = self.model_artifact_uri = None
        if model_name is not None:
            model = client.create_logged_model(
                experiment_id, name=model_name, source_run_id=self.run_id, params={p.key: str(p.value) for p in params}
            )
            self.model_id, self.model_artifact_uri = model.model_id, model.artifact_location
            client.log_outputs(self.run_id, [LoggedModelOutput(self.model_id, step=0)])

    @contextmanager
    def artifact_folder(self) -> Iterator[Path]:
        """A folder whose files become the run's artifacts: the run's own artifact folder when it is
        local (nothing copied, as MLflow's local repository would), else a temporary one uploaded at the end."""
        with folder_of(self.artifact_uri, lambda tmp: self.client.log_artifacts(self.run_id, tmp)) as folder:
            yield folder

    def log_model_folder(self, folder: Path) -> None:
        """The logged model's artifacts: the files of ``folder`` (hard links when both are local)."""
        if self.model_id is None:
            return
        target = local_artifact_folder(self.model_artifact_uri)
        if target is None:
            self.client.log_model_artifacts(self.model_id, str(folder))
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, target, copy_function=_link_or_copy, dirs_exist_ok=True)

    def model_metrics(self, metrics: list[Metric]) -> list[Metric]:
        """``metrics`` as metrics of this run's logged model too (when it has one)."""
        if self.model_id is None:
            return list(metrics)
        return [Metric(m.key, m.value, m.timestamp, m.step, model_id=self.model_id) for m in metrics]

    def end(
        self,
        status: str,
        metrics: list[Metric] = (),
        params: list[Param] = (),
        tags: list[RunTag] = (),
        model_metrics: list[Metric] = (),
    ) -> None:
        metrics, params = list(metrics), list(params)
        log_and_end(
            self.client,
            self.run_id,
            status,
            metrics + self.model_metrics(list(model_metrics)),
            params,
            list(tags),
            then=lambda: self._finalize(status, params),
        )

    def _finalize(self, status: str, params: list[Param]) -> None:
        if self.model_id is None:
            return
        known = set(self.client.get_logged_model(self.model_id).params)
        new = {p.key: str(p.value) for p in params if p.key not in known}
        if new:
            self.client.log_model_params(self.model_id, new)
        self.client.finalize_logged_model(self.model_id, logged_model_status(status))

    def fail(self, exc: BaseException) -> None:
        if self.model_id is not None:
            try:
                self.client.finalize_logged_model(self.model_id, LoggedModelStatus.FAILED)
            except MlflowException:
                pass  # the run's own ending below says what happened
        end_run_on_error(self.client, self.run_id, exc)


def logged_model_status(run_status: str) -> LoggedModelStatus:
    return LoggedModelStatus.READY if run_status == "FINISHED" else LoggedModelStatus.FAILED


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextmanager
def folder_of(artifact_uri: str, upload) -> Iterator[Path]:
    folder = local_artifact_folder(artifact_uri)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)
        upload(tmp)


def log_and_end(
    client: MlflowClient,
    run_id: str,
    status: str,
    metrics: list[Metric],
    params: list[Param],
    tags: list[RunTag] = (),
    then=None,
) -> None:
    """``log_batch`` (metrics in batches of BATCH), then ``then()``, then ``set_terminated``."""
    if metrics or params or tags:
        client.log_batch(run_id, metrics=metrics[:BATCH], params=params, tags=list(tags))
    for start in range(BATCH, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])
    if then is not None:
        then()
    client.set_terminated(run_id, status)


@dataclasses.dataclass
class Closing:
    """What ends one fold or job run: its status, aggregates and params."""

    run_id: str
    status: str
    metrics: list[Metric]
    params: list[Param] = dataclasses.field(default_factory=list)
