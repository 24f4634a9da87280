"""A sqlite tracking store made ready by mlflow-qc's own commands, one process at a time.

MLflow creates its schema when a process first connects to a new sqlite file. Two processes
doing that at once (two ``mlflow-qc train`` commands on a store that does not exist yet) race on
the migrations and one fails ("duplicate column name: step"). mlflow-qc's commands touch the
store first inside ``prepare_store``, holding an exclusive lock on ``<db file>.lock``, so the
second process waits and finds the schema made. MLflow's own commands (``mlflow run``'s
launcher, ``mlflow ui``) build their stores as MLflow does; nothing of MLflow is replaced.
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
    path = urlparse(store_uri).path if "?" in store_uri else store_uri[len(SQLITE_PREFIX) :]
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


SQLITE_WAL_ENV = "MLFLOW_QC_SQLITE_WAL"
_prepared: set[str] = set()


def prepare_store(tracking_uri: str) -> None:
    """Before a command of mlflow-qc first touches a sqlite store: MLflow creates its schema (tracking and
    registry tables) while this process holds ``<db>.lock``, so two commands starting together on a store
    that does not exist yet never race on the migrations; then the file is switched to write-ahead logging
    (readers never wait for a writer; ``MLFLOW_QC_SQLITE_WAL=0`` opts out, e.g. on NFS). Once per process
    and store; nothing for other stores. MLflow's own connections keep all their settings."""
    path = database_file(tracking_uri)
    if path is None or path in _prepared:
        return
    import sqlite3
    from contextlib import closing

    from mlflow.tracking import MlflowClient

    with schema_lock(tracking_uri):
        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        client.search_experiments(max_results=1)  # MLflow builds (and caches) its stores here: the schema is made
        client.search_registered_models(max_results=1)
        if os.environ.get(SQLITE_WAL_ENV, "1") != "0":
            with closing(
                sqlite3.connect(path)
            ) as connection:  # mlflow-qc's own connection; the mode stays with the file
                connection.execute("pragma journal_mode=wal")
    _prepared.add(path)  # the file, not the URI: a relative sqlite:///mlflow.db names another file in another folder
