"""MLflow's own sqlite tracking and registry stores, built one process at a time.

MLflow creates its schema when a process first connects to a new sqlite file. Two processes
doing that at once (two ``mlflow run`` commands on a store that does not exist yet) race on
the migrations and one fails ("duplicate column name: step"). Registered for the ``sqlite``
scheme under MLflow's ``mlflow.tracking_store`` and ``mlflow.model_registry_store`` entry
points, these builders hold an exclusive lock on ``<db file>.lock`` while MLflow's builder
runs, so the second process waits and finds the schema made. Every other scheme, and every
store operation after construction, is MLflow's own.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from urllib.parse import urlparse

SQLITE_PREFIX = "sqlite:///"


def database_file(store_uri: str) -> str | None:
    """The file behind ``sqlite:///path`` (None for in-memory databases)."""
    if not store_uri.startswith(SQLITE_PREFIX):
        return None
    path = urlparse(store_uri).path if "?" in store_uri else store_uri[len(SQLITE_PREFIX):]
    if path in ("", ":memory:"):
        return None
    return os.path.abspath(path)


@contextmanager
def schema_lock(store_uri: str):
    """Held by one process at a time per sqlite file (POSIX; elsewhere a no-op)."""
    path = database_file(store_uri)
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if path is None or fcntl is None or not os.path.isdir(os.path.dirname(path)):
        yield
        return
    with open(f"{path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tracking_store(store_uri: str, artifact_uri: str | None = None):
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    with schema_lock(store_uri):
        return _get_sqlalchemy_store(store_uri, artifact_uri)


def registry_store(store_uri: str, tracking_uri: str | None = None):
    from mlflow.tracking._model_registry.utils import _get_sqlalchemy_store

    with schema_lock(store_uri):
        return _get_sqlalchemy_store(store_uri)
