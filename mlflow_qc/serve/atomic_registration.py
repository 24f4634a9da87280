"""Registering a model version and pointing an alias at it as one step.

The registry has no transactions across calls, so the step holds SIGINT and SIGTERM while it
runs: a signal that arrives meanwhile is raised when the step ends, and like any error there it
takes back what the step created (the version, the registered model when it is new) and points
the alias back at the version that held it. Nothing is left half-registered and no alias moves.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError, one_line

DEFERRED = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def deferred_signals():
    """SIGINT/SIGTERM are held until the block ends, then handled as they would have been.

    Python runs signal handlers in the main thread whichever thread the signal reaches, so the
    handlers are swapped (an OS signal mask on one thread would not hold a signal sent to the
    process while other threads run). Elsewhere than the main thread the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: held.append(signum)) for signum in DEFERRED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            _deliver(held[0], previous[held[0]])


def _deliver(signum: int, handler) -> None:
    if callable(handler):
        handler(signum, None)  # e.g. raises Interrupted or KeyboardInterrupt here
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)


def register_with_alias(
    client: MlflowClient, model_uri: str, name: str, tags: dict, alias: str, description: str | None = None
) -> ModelVersion:
    """A new version of ``name`` from ``model_uri`` with ``tags`` and ``description``, and ``alias`` on it."""
    existed = _registered(client, name)
    holding = alias_holder(client, name, alias) if existed else None
    holder = holding.version if holding else None
    version = None
    try:
        with deferred_signals():
            version = mlflow.register_model(model_uri, name, tags=tags)
            if description:
                client.update_model_version(name, version.version, description=description)
            client.set_registered_model_alias(name, alias, version.version)
            return client.get_model_version(name, version.version)
    except BaseException as exc:
        with deferred_signals():
            _take_back(client, name, existed, version, alias, holder)
        if isinstance(exc, MlflowException) and version is not None:
            raise QCError(
                "alias", f"cannot set alias '{alias}' ({one_line(exc.message)}); expected another alias"
            ) from None
        raise


def _take_back(client: MlflowClient, name: str, existed: bool, version, alias: str, holder: str | None) -> None:
    if not existed:
        if _registered(client, name):
            client.delete_registered_model(name)
        return
    if version is not None:
        client.delete_model_version(name, version.version)
    if holder is None:
        return
    now = alias_holder(client, name, alias)
    if now is None or now.version != holder:
        client.set_registered_model_alias(name, alias, holder)


def _registered(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException:
        return False
    return True


def alias_holder(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or None."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
