"""A content-keyed cache of prepared arrays.

An entry is a directory named by the hash of what produced it (data versions,
preprocessing spec, seed). Entries are written to a temporary sibling and renamed
into place, so a reader never sees half an entry and a crash leaves none behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

COMPLETE_MARKER = "complete"


def cache_root() -> Path:
    root = os.environ.get("MLFLOW_QC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mlflow_qc")
    return Path(root)


def content_key(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def entry_path(key: str, kind: str = "prepared") -> Path:
    return cache_root() / kind / key


def is_complete(path: Path) -> bool:
    return (path / COMPLETE_MARKER).is_file()


@contextmanager
def write_entry(path: Path):
    """Yield a temporary directory that becomes ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        yield staging
        (staging / COMPLETE_MARKER).write_text("")
        try:
            os.replace(staging, path)
        except OSError:
            if not is_complete(path):  # another process won the race with an equal entry otherwise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
