"""A model's predictions file (``qc/predictions.parquet``): written from an Arrow table, read back as one.

A training writes each model's file and its job's report reads them all back moments later, in
the same process. The last tables written are kept in memory (at most KEPT_TABLES and KEPT_BYTES)
and such a read is served from them while the file is the one written (same size and modification
time); each is handed out once, as reading the file would give it. Any other read (another
process wrote it, or it was rewritten) reads the file.
"""

from __future__ import annotations

import collections
import os
import threading
from pathlib import Path

KEPT_TABLES = 64
KEPT_BYTES = 64 * 2**20

# path -> (its file's mtime and size, the table, the table's bytes); the bytes of all, kept as they come and go
_kept: collections.OrderedDict[str, tuple[tuple[int, int], object, int]] = collections.OrderedDict()
_kept_bytes = [0]
_lock = threading.Lock()


def write_predictions_table(table, path: Path) -> None:
    """``table`` as parquet: dictionary pages only where values repeat (split, labels; on row numbers and
    probabilities they cost a third of the write and bytes), no column statistics (nothing filters
    these files) and no Arrow schema, so dictionary columns read back as plain ones."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repeating = [f.name for f in table.schema if f.name != "row" and not pa.types.is_floating(f.type)]
    pq.write_table(table, path, use_dictionary=repeating, write_statistics=False, store_schema=False)
    _keep(str(Path(path).resolve()), _file_key(path), table)


def read_predictions_table(path: Path):
    """The file's table, text columns (split, labels) as dictionaries so they reach pandas as categories
    without a Python string per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = str(Path(path).resolve())
    with _lock:
        kept = _forget(key)
    if kept is not None and kept[0] == _file_key(path):
        return as_read(kept[1])
    texts = [f.name for f in pq.read_schema(path) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return pq.read_table(path, read_dictionary=texts)


def as_read(table):
    """``table`` as reading its file gives it: one dictionary per text column (the chunks' own, as the
    file's dictionary page holds them), other dictionary columns as their plain values."""
    import pyarrow as pa

    table = table.unify_dictionaries()
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type) and not pa.types.is_string(column.type.value_type):
            column = column.cast(column.type.value_type)
        columns.append(column.combine_chunks())
    return pa.table(columns, names=table.column_names)


def _file_key(path: Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_mtime_ns, status.st_size


def _keep(key: str, file_key: tuple[int, int], table) -> None:
    with _lock:
        _forget(key)
        _kept[key] = (file_key, table, table.nbytes)
        _kept_bytes[0] += table.nbytes
        while _kept and (len(_kept) > KEPT_TABLES or _kept_bytes[0] > KEPT_BYTES):
            _forget(next(iter(_kept)))


def _forget(key: str):
    """The kept (file key, table, bytes) of ``key`` (None if none), taken out of the memory (caller holds the lock)."""
    kept = _kept.pop(key, None)
    if kept is not None:
        _kept_bytes[0] -= kept[2]
    return kept
