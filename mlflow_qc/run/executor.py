"""Running model tasks: in-process, in parallel processes, or on any joblib backend.

``trainer.backend: local`` uses loky processes on this machine (``n_jobs``); another
name selects a registered joblib backend (``dask``, ``ray``, ...), which is the seam a
distributed engine plugs into. Results come back as they finish.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator

from joblib import Parallel, delayed, parallel_config

from mlflow_qc.errors import QCError
from mlflow_qc.run.plan import ModelRecord, ModelTask
from mlflow_qc.run.worker import TaskEnvironment, train_model

# Backends whose joblib registration lives in another package, imported on demand.
BACKEND_REGISTRARS = {"dask": ("distributed", None), "ray": ("ray.util.joblib", "register_ray")}


def _select_backend(backend: str) -> str:
    if backend == "local":
        return "loky"
    if backend in BACKEND_REGISTRARS:
        module_name, register = BACKEND_REGISTRARS[backend]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise QCError("trainer.backend", f"backend '{backend}' needs the package '{module_name.split('.')[0]}'; install it or use local") from None
        if register:
            getattr(module, register)()
    return backend


def check_backend(backend: str, n_jobs: int) -> None:
    """QCError for a backend joblib does not know, before any run exists (dask and ray are set up when they run)."""
    if backend == "local" or backend in BACKEND_REGISTRARS:
        return
    try:
        with parallel_config(backend=_select_backend(backend), n_jobs=n_jobs):
            pass
    except ValueError as exc:
        raise QCError("trainer.backend", f"{exc}; expected local, dask, ray or a registered joblib backend") from None


def execute(tasks: list[ModelTask], env: TaskEnvironment, n_jobs: int = 1, backend: str = "local") -> Iterator[ModelRecord]:
    """Train every task; yields their records in completion order."""
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
