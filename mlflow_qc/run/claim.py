"""One training per run tree at a time on this machine.

Two commands training the same recipe into the same experiment would both adopt the tree and
train every model twice. The resume check (``RunTree.adopt``: an earlier run still RUNNING under
a live process) cannot see a command that started at the same moment, so each command first
takes an exclusive, non-blocking lock named by (tracking store, experiment, resume key) in the
cache folder, and holds it until its experiment run has ended. The operating system releases it
when the process dies, even by SIGKILL; commands on other machines rely on the resume check.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from mlflow_qc.cache import cache_root
from mlflow_qc.errors import QCError
from mlflow_qc.hashing import digest

LOCK_FOLDER = "locks"


@contextmanager
def claim_tree(tracking_uri: str, experiment_id: str, resume_key: str, run_id: str):
    """Held while this process trains the tree; QCError naming the holder when another does."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the resume check alone
        yield
        return
    folder = cache_root() / LOCK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest(f'{tracking_uri}|{experiment_id}|{resume_key}', 24)}.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().split()
            owner = (
                f"run {holder[1]} of this recipe is still running (pid {holder[0]})"
                if len(holder) == 2
                else "another run of this recipe is still running"
            )
            raise QCError("experiment", f"{owner}; expected it to finish or be stopped before resuming") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {run_id}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
