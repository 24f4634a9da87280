"""Running model tasks: in-process, in parallel processes on this machine, or on a Dask cluster.

``trainer.backend: local`` uses loky processes on this machine (``n_jobs``); ``dask`` a Dask
cluster (``run/dask_executor.py``); another name selects a registered joblib backend
(``ray``, ...). Every executor yields the records as the models finish.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from joblib import Parallel, delayed, parallel_config
from joblib.parallel import BACKENDS, EXTERNAL_BACKENDS

from mlflow_qc.errors import QCError
from mlflow_qc.run.plan import ModelRecord, ModelTask
from mlflow_qc.run.worker import TaskEnvironment, train_model

# The test suite's hook (tests/helpers.py, held_training): "N:PATH" holds the training once N models are
# recorded (before the next starts): PATH is written, then the training waits until PATH is removed.
# The fault tests kill or stop it there, at a known point, instead of racing the clock.
TEST_HOLD = "MLFLOW_QC_TEST_HOLD"

# Backends whose joblib registration lives in another package, imported on demand.
BACKEND_REGISTRARS = {"ray": ("ray.util.joblib", "register_ray")}


def _select_backend(backend: str) -> str:
    if backend == "local":
        return "loky"
    if backend in BACKEND_REGISTRARS:
        module_name, register = BACKEND_REGISTRARS[backend]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise QCError(
                "trainer.backend",
                f"backend '{backend}' needs the package '{module_name.split('.')[0]}'; install it or use local",
            ) from None
        getattr(module, register)()
    if backend not in BACKENDS and backend not in EXTERNAL_BACKENDS:
        raise QCError(
            "trainer.backend", f"unknown backend '{backend}'; expected local, dask or a registered joblib backend"
        )
    return backend


def check_backend(backend: str, n_jobs: int) -> None:
    """QCError for a backend joblib does not know (or whose package is missing), before any run
    exists; dask is checked when its cluster is opened."""
    if backend in ("local", "dask"):
        return
    try:
        with parallel_config(backend=_select_backend(backend), n_jobs=n_jobs):
            pass
    except ValueError as exc:
        raise QCError("trainer.backend", f"{exc}; expected local, dask, ray or a registered joblib backend") from None


def execute(
    tasks: list[ModelTask], env: TaskEnvironment, n_jobs: int = 1, backend: str = "local"
) -> Iterator[ModelRecord]:
    """Train every task on this machine (or a joblib backend); yields their records in completion order."""
    if not tasks:
        return
    if backend == "local" and n_jobs > len(tasks):
        n_jobs = len(tasks)  # loky starts every worker it is given
    if backend == "local" and n_jobs == 1:
        for task in tasks:
            yield train_model(task, env)
        return
    with parallel_config(backend=_select_backend(backend), n_jobs=n_jobs):
        yield from Parallel(return_as="generator_unordered")(delayed(train_model)(task, env) for task in tasks)


@dataclass(frozen=True)
class LocalExecutor:
    n_jobs: int = 1
    backend: str = "local"
    slots: int = 1  # TPE proposes one combination at a time (a job's models run in parallel)

    def execute(self, tasks: list[ModelTask], env: TaskEnvironment) -> Iterator[ModelRecord]:
        records = execute(tasks, env, self.n_jobs, self.backend)
        return held(records, os.environ[TEST_HOLD]) if os.environ.get(TEST_HOLD) else records


def held(records: Iterable[ModelRecord], hold: str) -> Iterator[ModelRecord]:
    """``records``, held after the Nth as ``MLFLOW_QC_TEST_HOLD=N:PATH`` says (a test hook)."""
    count, _, path = hold.partition(":")
    for number, record in enumerate(records, 1):
        yield record  # the caller records it before asking for the next one
        if number == int(count):
            with open(path, "w") as flag:
                flag.write(str(os.getpid()))
            released = threading.Event()
            while os.path.exists(path):  # a signal (SIGTERM, SIGKILL) may end the process here
                released.wait(0.05)


@contextmanager
def open_executor(trainer, tracking_uri: str):
    """The executor of ``trainer.backend`` for one command; a cluster is checked (and a local one
    started) here, before any run exists, and stopped when the block ends."""
    if trainer.backend != "dask":
        check_backend(trainer.backend, trainer.n_jobs)
        yield LocalExecutor(trainer.n_jobs, trainer.backend)
        return
    from mlflow_qc.run.dask_executor import dask_executor

    with dask_executor(trainer.address, trainer.n_jobs, tracking_uri) as executor:
        yield executor
