"""What the pages read: the server's own backend store, its runs and their artifacts.

Every run id arrives in a request; it is checked (32 hexadecimal digits) before it reaches the
store. Artifacts are read only at the fixed names of ``tracking/names.py`` under the run's own
artifact location as the store records it, never at a path taken from a request.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
from mlflow.entities import LifecycleStage, Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.evaluate.artifacts import run_artifact
from mlflow_qc.tracking.names import LEVEL
from mlflow_qc.tracking.queries import level_of

RUN_ID = re.compile(r"[0-9a-f]{32}")
SHOWN_INPUT = 40  # characters of a bad request value repeated in its error message
README = "see the README, section 'The QC pages'"
# What ``mlflow server`` hands its workers (mlflow.server.constants: BACKEND_STORE_URI_ENV_VAR,
# REGISTRY_STORE_URI_ENV_VAR, ARTIFACTS_DESTINATION_ENV_VAR); read here so that importing this
# module starts no server code.
BACKEND_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"
REGISTRY_STORE_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"
ARTIFACTS_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"
# Which of some experiment ids the user of the current request may read (``ui.access`` under
# ``--app-name qc-auth``); None: every experiment (``--app-name qc``, one user on loopback).
Readable = Callable[[list[str]], list[str]]


class PageError(Exception):
    """A request the pages refuse: HTTP ``status`` with a one-line message naming the field."""

    def __init__(self, status: int, where: str, expected: str):
        self.status = status
        super().__init__(f"{where}: {expected}")


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_INPUT else text[:SHOWN_INPUT] + "...")


def a_or_an(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def check_run_id(value, field: str) -> str:
    if value is None:
        raise PageError(400, field, f"missing; expected the id of a run ({README})")
    if not isinstance(value, str) or not RUN_ID.fullmatch(value):
        raise PageError(400, field, f"{shown(value)} is not a run id; expected 32 hexadecimal digits ({README})")
    return value


class Store:
    """The tracking store of the server (``mlflow server --backend-store-uri``) and its artifacts,
    as the user of the current request may read them (``readable``)."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        artifacts_destination: str | None = None,
        readable: Readable | None = None,
    ):
        import mlflow

        self.tracking_uri = tracking_uri or os.environ.get(BACKEND_STORE_ENV) or mlflow.get_tracking_uri()
        self.registry_uri = os.environ.get(REGISTRY_STORE_ENV) or self.tracking_uri
        self.artifacts_destination = artifacts_destination or os.environ.get(ARTIFACTS_DESTINATION_ENV)
        self.client = MlflowClient(self.tracking_uri, self.registry_uri)
        self.readable = readable

    def readable_ids(self, experiment_ids: list[str]) -> list[str]:
        return list(experiment_ids) if self.readable is None else self.readable(list(experiment_ids))

    def warm_up(self) -> None:
        """Open the store's connection now rather than in the first page request."""
        try:
            self.client.search_experiments(max_results=1)
        except MlflowException:
            pass  # an unreachable store answers each page with its own error

    def run(self, run_id, field: str, levels: tuple[str, ...] = ()) -> Run:
        """The active run ``run_id`` (400 when malformed, 404 when absent or not at one of ``levels``)."""
        check_run_id(run_id, field)
        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            raise PageError(
                404, field, f"no run {run_id} in this store; expected the id of an mlflow_qc run ({README})"
            ) from None
        if not self.readable_ids([run.info.experiment_id]):
            raise PageError(
                403,
                field,
                f"run {run_id} is in experiment {run.info.experiment_id}, which you may not read; "
                f"expected a run of an experiment you have READ permission on ({README})",
            )
        if run.info.lifecycle_stage == LifecycleStage.DELETED:
            raise PageError(404, field, f"run {run_id} was deleted; expected an active run")
        if levels and level_of(run) not in levels:
            found = f"{a_or_an(level_of(run))} run" if level_of(run) else f"not an mlflow_qc run (no {LEVEL} tag)"
            raise PageError(
                404, field, f"run {run_id} is {found}; expected {' or '.join(a_or_an(level) for level in levels)} run"
            )
        return run

    def artifact_root(self, run: Run) -> str:
        """The run's artifact location readable from this process: ``mlflow-artifacts:`` URIs (runs
        logged through a tracking server) map onto the server's ``--artifacts-destination``."""
        return self.local_uri(run.info.artifact_uri)

    def local_uri(self, uri: str) -> str:
        """``uri`` readable from this process (``mlflow-artifacts:`` onto ``--artifacts-destination``)."""
        if uri.startswith("mlflow-artifacts:") and self.artifacts_destination:
            return f"{self.artifacts_destination.rstrip('/')}/{urlparse(uri).path.lstrip('/')}"
        return uri

    def artifact_path(self, run: Run, path: str, scratch: str | Path) -> Path | None:
        """The local copy of one artifact of ``run`` (in place for a local store), None when absent."""
        try:
            found = run_artifact(self.artifact_root(run), path, scratch)
        except (MlflowException, OSError):
            return None
        return found if found.exists() else None

    def read_text(self, run: Run, path: str) -> str | None:
        with tempfile.TemporaryDirectory() as scratch:
            found = self.artifact_path(run, path, scratch)
            return (
                found.read_text(encoding="utf-8", errors="replace") if found is not None and found.is_file() else None
            )

    def read_table(self, run: Run, path: str, text_prefix: str | None = None) -> pd.DataFrame | None:
        """A parquet or CSV artifact; CSV columns starting with ``text_prefix`` stay text (hyperparameters as logged)."""
        with tempfile.TemporaryDirectory() as scratch:
            found = self.artifact_path(run, path, scratch)
            if found is None or not found.is_file():
                return None
            if found.suffix == ".parquet":
                return pd.read_parquet(found)
            text = {c: str for c in pd.read_csv(found, nrows=0).columns if text_prefix and c.startswith(text_prefix)}
            return pd.read_csv(found, dtype=text)
