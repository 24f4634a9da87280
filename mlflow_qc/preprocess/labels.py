"""Encoded labels back to class indices: the inverse every classifier and its target share."""

from __future__ import annotations

import numpy as np


def encoded_class_index(encoded, n_classes: int | None = None) -> np.ndarray:
    """1-D class indices of encoded labels: one column is the (rounded) index itself (binary 0/1,
    ordinal), several columns are one-hot rows or probabilities (their argmax)."""
    encoded = np.asarray(encoded, dtype=np.float64)
    encoded = encoded.reshape(len(encoded), -1)
    if encoded.shape[1] == 1:
        index = np.rint(encoded[:, 0])
        if n_classes:
            index = np.clip(index, 0, n_classes - 1)
        return index.astype(np.int64)
    return encoded.argmax(axis=1)
