"""Windows cut inside blocks of time steps: a window starting at step ``s`` covers the steps
``s .. s + span - 1`` (``size_window`` past steps as features, the ``size_shift`` that follow as the
label); it belongs to a block only when all of them do (and, with groups, to one group)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def window_starts(rows: np.ndarray, span: int, n_rows: int, groups=None) -> np.ndarray:
    """The start steps of every window that fits inside ``rows``."""
    if n_rows < span:
        return np.array([], dtype=np.int64)
    inside = np.zeros(n_rows, dtype=bool)
    inside[rows] = True
    fits = sliding_window_view(inside, span).all(axis=1)
    if groups is not None:
        codes = sliding_window_view(pd.factorize(np.asarray(groups))[0], span)
        fits &= (codes == codes[:, :1]).all(axis=1)
    return np.flatnonzero(fits).astype(np.int64)


def window_spans(starts: np.ndarray, span: int) -> np.ndarray:
    """(windows, 2): the first and last time step each window's features and label cover."""
    return np.stack([starts, starts + span - 1], axis=1) if len(starts) else np.zeros((0, 2), dtype=np.int64)
