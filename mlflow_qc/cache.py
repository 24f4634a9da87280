"""A content-keyed cache of prepared arrays, and read access to one entry.

An entry is a directory named by the hash of what produced it (data versions,
preprocessing spec, seed). Entries are written to a temporary sibling and renamed
into place, so a reader never sees half an entry and a crash leaves none behind.

Layout of an entry: ``meta.json`` (contexts, feature_names of the last context fitted (a
context's own are its pipeline's: categories come from each context's training rows), label_name,
classes, analysis_type, input_count), ``splits.json``, ``input_example.parquet``, and per context
``{context}/pipeline.pkl``, ``{context}/typical.json`` and ``{context}/{split}/features_I.npy|label.npy``;
a context fitted beyond the splits' own (``refit``) also has ``{context}/rows.json``.

``pack`` / ``unpack`` move an entry to a machine that does not share this disk (a Dask
worker): the shared files once, then each context on its own, as bytes.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_qc.preprocess.pipeline import FittedPipeline, PreparedSplit
from mlflow_qc.split import Splits

COMPLETE_MARKER = "complete"
PIPELINE_FILE = "pipeline.pkl"
INPUT_EXAMPLE_FILE = "input_example.parquet"
INPUT_EXAMPLE_ARRAY = "input_example.npy"
META_FILE = "meta.json"
SPLITS_FILE = "splits.json"
ROWS_FILE = "rows.json"
TYPICAL_FILE = "typical.json"  # per context: the typical training sample (data/typical.py)


def cache_root() -> Path:
    root = os.environ.get("MLFLOW_QC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mlflow_qc")
    return Path(root)


def entry_path(key: str, kind: str = "prepared") -> Path:
    return cache_root() / kind / key


def usage(kind: str = "prepared") -> tuple[int, int]:
    """(entries, bytes) of the cache's prepared arrays (``mlflow-qc cache info``)."""
    folder = cache_root() / kind
    entries = [path for path in folder.iterdir() if path.is_dir()] if folder.is_dir() else []
    size = sum(
        file.stat().st_size
        for entry in entries
        for file in entry.rglob("*")
        if file.is_file() and not file.is_symlink()
    )
    return len(entries), size


def clear(kind: str = "prepared") -> tuple[int, int]:
    """Delete every entry of the prepared arrays (``mlflow-qc cache clear``): (entries, bytes) freed.
    Only the folders this module writes go, whatever else lies under MLFLOW_QC_CACHE; a training
    prepares what it needs again."""
    entries, size = usage(kind)
    folder = cache_root() / kind
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
    return entries, size


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


class CacheEntry:
    """Read access to one prepared cache entry: meta, splits, arrays and fitted pipelines."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.root / META_FILE).read_text())

    @cached_property
    def splits(self) -> Splits:
        return Splits.from_dict(json.loads((self.root / SPLITS_FILE).read_text()))

    @property
    def contexts(self) -> list[str]:
        return list(self.meta["contexts"])

    def split_names(self, context: str) -> list[str]:
        return list(self.rows(context))

    def rows(self, context: str) -> dict[str, np.ndarray]:
        if context in self.meta["contexts"]:
            return self.splits.contexts()[context]
        raw = json.loads((self.root / context / ROWS_FILE).read_text())
        return {split: np.asarray(rows, dtype=np.int64) for split, rows in raw.items()}

    def load(self, context: str, split: str, mmap: bool = True) -> PreparedSplit:
        folder = self.root / context / split
        mode = "r" if mmap else None
        features = [np.load(folder / f"features_{i}.npy", mmap_mode=mode) for i in range(self.meta["input_count"])]
        label_file = folder / "label.npy"
        label = np.load(label_file, mmap_mode=mode) if label_file.exists() else None
        return PreparedSplit(features=features, label=label)

    def pipeline(self, context: str) -> FittedPipeline:
        with open(self.pipeline_path(context), "rb") as handle:
            return pickle.load(handle)

    def pipeline_path(self, context: str) -> Path:
        return self.root / context / PIPELINE_FILE

    def typical(self, context: str) -> dict | None:
        """The typical training sample of a context (None in entries written before it existed)."""
        path = self.root / context / TYPICAL_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def input_example(self):
        """A few raw training samples as the served model takes them (see ``write_input_example``)."""
        table = self.root / INPUT_EXAMPLE_FILE
        if table.exists():
            return pd.read_parquet(table)
        named = sorted(self.root.glob("input_example_*"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
        if not named:
            return np.load(self.root / INPUT_EXAMPLE_ARRAY)
        return {f"input_{path.stem.rsplit('_', 1)[1]}": _read_example(path) for path in named}


def _read_example(path: Path):
    return pd.read_parquet(path) if path.suffix == ".parquet" else np.load(path)


def write_input_example(root: Path, example) -> None:
    """A table, an array, or a dict of them by input name (``input_<i>``)."""
    if isinstance(example, pd.DataFrame):
        example.to_parquet(root / INPUT_EXAMPLE_FILE, index=False)
    elif isinstance(example, dict):
        for name, value in example.items():
            index = name.removeprefix("input_")
            if isinstance(value, pd.DataFrame):
                value.to_parquet(root / f"input_example_{index}.parquet", index=False)
            else:
                np.save(root / f"input_example_{index}.npy", value)
    else:
        np.save(root / INPUT_EXAMPLE_ARRAY, example)


def write_typical(folder: Path, typical: dict) -> None:
    """A context's typical sample, written whole or not at all (entries of earlier versions get it later)."""
    staging = folder / f".{TYPICAL_FILE}.{os.getpid()}"
    staging.write_text(json.dumps(typical, default=str))
    os.replace(staging, folder / TYPICAL_FILE)


def write_context(
    folder: Path, fitted: FittedPipeline, arrays: dict[str, PreparedSplit], rows: dict | None = None
) -> None:
    """One context's arrays and pipeline under ``folder`` (``rows``: for a context beyond the splits')."""
    for split, prepared in arrays.items():
        (folder / split).mkdir(parents=True)
        for i, features in enumerate(prepared.features):
            np.save(folder / split / f"features_{i}.npy", features)
        if prepared.label is not None:
            np.save(folder / split / "label.npy", prepared.label)
    with open(folder / PIPELINE_FILE, "wb") as handle:
        pickle.dump(fitted, handle, protocol=pickle.HIGHEST_PROTOCOL)
    if rows is not None:
        (folder / ROWS_FILE).write_text(json.dumps({split: r.tolist() for split, r in rows.items()}))


@dataclass(frozen=True)
class EntryPart:
    """Some files of the entry ``key`` by relative path: its shared files (``context`` None) or one context's."""

    key: str
    context: str | None
    files: dict[str, bytes]


def pack(root: str | Path, context: str | None = None) -> EntryPart:
    root = Path(root)
    if context is None:  # meta, splits, input examples: the entry's top-level files
        files = {
            path.name: path.read_bytes()
            for path in sorted(root.iterdir())
            if path.is_file() and path.name != COMPLETE_MARKER
        }
    else:
        folder = root / context
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
    return EntryPart(root.name, context, files)


def unpack(part: EntryPart, root: str | Path) -> None:
    """Write ``part`` under ``root`` (the entry's folder on this machine) unless it is there already.

    The shared part comes first: it creates ``root``; each context is then written atomically.
    """
    root = Path(root)
    target = root if part.context is None else root / part.context
    if is_complete(target):
        return
    with write_entry(target) as staging:
        for name, data in part.files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
