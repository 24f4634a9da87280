"""Failures of the machinery rather than of a model: the tracking server stopped answering, a disk
or the sqlite store is full. Each would fail every remaining model the same way, so training stops
at the first with one line (``StoreError``); a rerun resumes the tree.

MLflow retries an HTTP call ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times with exponential backoff
(``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``, each try bounded by ``MLFLOW_HTTP_REQUEST_TIMEOUT``)
before it gives up; once one call has given up, the cleanup after it tries each call once.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from mlflow_qc.errors import StoreError, TrackingUnreachable, one_line

FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
SQLITE_FULL = "database or disk is full"
MAX_RETRIES_ENV = "MLFLOW_HTTP_REQUEST_MAX_RETRIES"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def tracking_unreachable(exc: BaseException) -> bool:
    """MLflow gave up on an HTTP call: the server is down, refuses connections or times out."""
    import requests

    unreachable = (
        requests.exceptions.ConnectionError,
        requests.exceptions.RetryError,
        requests.exceptions.Timeout,
        TrackingUnreachable,
    )  # the last: as a worker process sends it back (pickling drops the chain)
    return any(isinstance(item, unreachable) for item in _chain(exc))


def storage_full(exc: BaseException) -> BaseException | None:
    """The OSError (no space, file too large, quota) or sqlite error behind ``exc``, if any."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in FULL_ERRNOS:
            return item
        if SQLITE_FULL in str(item) and type(item).__name__ == "OperationalError":
            return item
    return None


def fault_of(exc: BaseException, tracking_uri: str) -> StoreError | None:
    """``exc`` as one line when the machinery failed; None for anything else."""
    if isinstance(exc, StoreError):
        return exc
    if tracking_unreachable(exc):
        retries = os.environ.get(MAX_RETRIES_ENV, "MLflow's default")
        return TrackingUnreachable(
            f"tracking server {tracking_uri}",
            f"not answering after {retries} retries ({_reason(exc)}); expected it running: start it again and rerun "
            f"to resume (finished models are kept; {MAX_RETRIES_ENV} sets how long to wait)",
        )
    full = storage_full(exc)
    if full is None:
        return None
    if not isinstance(full, OSError):
        where = f"tracking store {tracking_uri}"
    else:
        where = f"disk of {os.path.dirname(full.filename)}" if getattr(full, "filename", None) else "disk"
    return StoreError(
        where, f"full ({_reason(full)}); expected free space: free some and rerun to resume (finished models are kept)"
    )


def _reason(exc: BaseException) -> str:
    innermost = list(_chain(exc))[-1]
    text = one_line(innermost)
    return text if len(text) <= 160 else text[:160] + "..."


@contextmanager
def single_tries():
    """MLflow's HTTP calls try once in this block (cleanup after the server was found gone)."""
    saved = os.environ.get(MAX_RETRIES_ENV)
    os.environ[MAX_RETRIES_ENV] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(MAX_RETRIES_ENV, None)
        else:
            os.environ[MAX_RETRIES_ENV] = saved
