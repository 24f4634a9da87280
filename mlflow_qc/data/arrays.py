"""N-D samples from ``.npy`` / ``.npz`` files: sequences (samples x timesteps x channels) and
images (samples x channels x rows x columns, AIQC's channels-first)."""

from __future__ import annotations

import os

import numpy as np

from mlflow_qc.errors import QCError, one_line

RANKS = {"sequence": 3, "image": 4}
SHAPES = {"sequence": "samples x timesteps x channels", "image": "samples x channels x rows x columns"}
ARRAY_SUFFIXES = (".npy", ".npz")


def read_array(path: str, where: str) -> np.ndarray:
    """The array of a ``.npy`` file (memory-mapped) or the only array of an ``.npz`` file."""
    if not os.path.isfile(path):
        raise QCError(f"{where}.path", f"file not found: {path}")
    try:
        if path.lower().endswith(".npz"):
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if len(names) != 1:
                    raise QCError(
                        f"{where}.path", f"{os.path.basename(path)} holds the arrays {names}; expected exactly one"
                    )
                return archive[names[0]]
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except QCError:
        raise
    except (OSError, ValueError) as exc:
        raise QCError(f"{where}.path", f"cannot read {path} as a numpy array ({one_line(exc)})") from None


def kind_of_rank(array: np.ndarray) -> str | None:
    return next((kind for kind, rank in RANKS.items() if array.ndim == rank), None)


def check_samples(array: np.ndarray, kind: str, where: str, label: str) -> np.ndarray:
    """The array as ``kind`` samples: the right rank, numbers, at least one sample."""
    if array.ndim != RANKS[kind]:
        raise QCError(
            f"{where}.path",
            f"{label} has {array.ndim} dimensions {tuple(array.shape)}; "
            f"expected {RANKS[kind]} for {kind} data ({SHAPES[kind]})",
        )
    if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
        raise QCError(f"{where}.path", f"{label} holds {array.dtype} values; expected numbers")
    if len(array) == 0 or 0 in array.shape:
        raise QCError(
            f"{where}.path", f"{label} has shape {tuple(array.shape)}; expected at least one sample of non-empty size"
        )
    return array
