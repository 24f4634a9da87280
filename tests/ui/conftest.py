"""One trained store and one real ``mlflow server --app-name qc`` over it (started by ``mlflow-qc ui``),
shared by the page tests of a session (the browser: ``chromium`` of tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml
from mlflow import MlflowClient

from tests.evaluate.conftest import SONAR_BINARY, Trained, enter, isolate_mlflow, train  # noqa: F401 (enter: a fixture the page tests use)
from tests.helpers import CLI, background_server, free_port

# The what-if and head-to-head subject: the evaluation tests' sonar recipe, one repeat, permutation importance on.
SONAR_PAGES = {**SONAR_BINARY, "seed": 13, "trainer": {"repeat_count": 1, "permute_count": 2}}

# Trained in the background while a browser watches: 4 jobs x 3 folds of forests big enough to take a while.
WATCHED = {
    "seed": 5,
    "data": SONAR_PAGES["data"],
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_binary",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "hyperparameters": {"n_estimators": [150, 200, 250, 300], "random_state": [0]},
    },
    "trainer": {"repeat_count": 1},
}

HOSTILE_NAME = "<script>alert('run')</script>"
HOSTILE_EXPERIMENT = "<img src=x onerror=alert('experiment')>"


@dataclass
class Served:
    trained: Trained
    base: str
    log: Path
    hostile_run_id: str
    stopped_run_id: str

    def client(self) -> MlflowClient:
        return self.trained.client()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.base}{path}", timeout=60, **kwargs)

    def runs(self, level: str) -> list:
        return self.trained.runs(level)

    def jobs(self) -> list:
        return sorted(self.runs("job"), key=lambda run: int(run.data.tags["qc.job_index"]))


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def add_odd_runs(trained: Trained) -> tuple[str, str]:
    """An experiment run with a hostile name and params, and one whose training process is gone."""
    client = trained.client()
    hostile = client.create_experiment(HOSTILE_EXPERIMENT)
    run = client.create_run(
        hostile,
        run_name=HOSTILE_NAME,
        tags={"qc.level": "experiment", "qc.resume_key": "hostile", "qc.ranking_metric": "<b>bold</b>"},
    )
    client.log_param(run.info.run_id, "recipe.name", HOSTILE_NAME)
    client.set_terminated(run.info.run_id, "FINISHED")
    stopped = client.create_run(
        trained.experiment_id,
        run_name="stopped-training",
        tags={
            "qc.level": "experiment",
            "qc.resume_key": "stopped",
            "qc.pid": str(dead_pid()),
            "qc.host": socket.gethostname(),
            "qc.models_planned": "8",
            "qc.models_finished": "3",
        },
    )
    return run.info.run_id, stopped.info.run_id


WHATIF_MODEL = "sonar-pages"  # the registered model of the what-if tests: the store's first model run


@contextlib.contextmanager
def logging_to(tracking_uri: str):
    """MLflow's fluent API (``start_run``, ``register_model``) on ``tracking_uri``, reset afterwards."""
    import mlflow

    with pytest.MonkeyPatch.context() as patch:
        isolate_mlflow(patch)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)


@pytest.fixture(scope="session")
def pages_store(tmp_path_factory) -> Trained:
    """The trained store; its first model run registered (the what-if page loads registered models only)."""
    import mlflow

    trained = train(tmp_path_factory, "sonar-pages", SONAR_PAGES)
    with logging_to(trained.tracking_uri):
        mlflow.register_model(f"runs:/{trained.runs('model')[0].info.run_id}/model", WHATIF_MODEL)
    return trained


@pytest.fixture(scope="session")
def served(pages_store, tmp_path_factory) -> Served:
    hostile, stopped = add_odd_runs(pages_store)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("qc-server") / "server.log"
    command = [*CLI, "ui", "--port", str(port), "--backend-store-uri", pages_store.tracking_uri]
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")}
    with background_server(command, f"{base}/health", log, pages_store.root, env=env, ready_seconds=240):
        yield Served(pages_store, base, log, hostile, stopped)


def background_training(served: Served, name: str, recipe: dict, log: Path) -> subprocess.Popen:
    """``mlflow-qc train`` of ``recipe`` into the served store, in a real process of its own."""
    root = served.trained.root
    path = root / "recipes" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **recipe}))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")},
        "MLFLOW_TRACKING_URI": served.trained.tracking_uri,
    }
    with open(log, "wb") as output:
        return subprocess.Popen([*CLI, "train", str(path)], cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT)


def wait_for(find, seconds: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    """Poll ``find()`` every 0.2 s until it returns something truthy; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        if process is not None and process.poll() is not None and not find():
            raise AssertionError(
                f"{what}: the training exited {process.returncode}:\n{log.read_text()[-3000:] if log else ''}"
            )
        time.sleep(0.2)
    raise AssertionError(f"{what}: not seen after {seconds}s")


def experiment_run_of(served: Served, experiment_name: str) -> str | None:
    experiment = served.client().get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = served.client().search_runs([experiment.experiment_id], "tags.`qc.level` = 'experiment'")
    return runs[0].info.run_id if runs else None
