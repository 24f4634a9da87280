"""``make_splits``: the blocks of the chosen order, then (windows) the windows cut inside them."""

from __future__ import annotations

import numpy as np

from mlflow_qc.errors import QCError
from mlflow_qc.split.ordered import time_blocks
from mlflow_qc.split.shuffled import shuffled_blocks
from mlflow_qc.split.splits import Splits
from mlflow_qc.split.windows import window_spans, window_starts


def make_splits(n_rows: int, strata, stratifier, seed: int, window=None, groups=None) -> Splits:
    """``window``: (size_window, size_shift) when the samples are windows; ``groups``: one value per row."""
    if stratifier.order == "time":
        splits, folds = time_blocks(n_rows, stratifier, groups)
    else:
        splits, folds = shuffled_blocks(n_rows, strata, stratifier, seed, groups)
    if window is None:
        return Splits(seed=seed, splits=splits, folds=folds)
    span = int(sum(window))

    def cut(rows: np.ndarray, where: str, what: str) -> np.ndarray:
        starts = window_starts(rows, span, n_rows, groups)
        if not len(starts):
            raise QCError(
                where,
                f"{what} has {len(rows)} time step(s), too few for one window of {span} "
                "(size_window + size_shift); expected a larger share or a smaller window",
            )
        return starts

    windows = {
        name: cut(rows, f"data.stratifier.size_{name}" if name != "train" else "data.stratifier", f"the {name} block")
        for name, rows in splits.items()
    }
    fold_windows = [
        {part: cut(rows, "data.stratifier.fold_count", f"fold {k}'s {part} block") for part, rows in fold.items()}
        for k, fold in enumerate(folds)
    ]
    return Splits(
        seed=seed,
        splits=windows,
        folds=fold_windows,
        steps={name: window_spans(starts, span) for name, starts in windows.items()},
        fold_steps=[{part: window_spans(starts, span) for part, starts in fold.items()} for fold in fold_windows],
    )
