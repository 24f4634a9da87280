"""``order: time``: contiguous blocks in time (row order), test last, validation before it, and
forward-chaining folds of the training block (scikit-learn's ``TimeSeriesSplit``: each fold
validates on the block after its training rows). With ``group_column`` whole groups move,
ordered by their first row."""

from __future__ import annotations

import math

import numpy as np
from sklearn.model_selection import TimeSeriesSplit

from mlflow_qc.errors import QCError


def time_blocks(n_rows: int, stratifier, groups=None) -> tuple[dict, list]:
    units = _units(n_rows, groups)  # in time order; each a list of rows
    sizes = np.array([len(unit) for unit in units])
    remaining = len(units)
    splits: dict[str, np.ndarray] = {}
    for name, share in (("test", stratifier.size_test), ("validation", stratifier.size_validation)):
        if not share:
            continue
        wanted = max(1, math.ceil(share * n_rows - 1e-9))
        taken = int(np.searchsorted(np.cumsum(sizes[:remaining][::-1]), wanted) + 1)
        if taken >= remaining:
            raise QCError(
                f"data.stratifier.size_{name}",
                f"{share:g} of the time steps leaves no earlier rows for training; expected a smaller share",
            )
        splits[name] = _rows(units[remaining - taken : remaining])
        remaining -= taken
    train_units = units[:remaining]
    splits["train"] = _rows(train_units)
    splits = {name: splits[name] for name in ("train", "validation", "test") if name in splits}
    return splits, _folds(train_units, stratifier.fold_count)


def _units(n_rows: int, groups) -> list[np.ndarray]:
    if groups is None:
        return [np.array([row]) for row in range(n_rows)]
    values, first = np.unique(groups, return_index=True)
    by_value = {value: np.flatnonzero(groups == value) for value in values}
    return [by_value[value] for value in values[np.argsort(first)]]


def _rows(units: list[np.ndarray]) -> np.ndarray:
    return np.sort(np.concatenate(units)) if units else np.array([], dtype=np.int64)


def _folds(units: list[np.ndarray], fold_count: int | None) -> list[dict]:
    if not fold_count:
        return []
    if fold_count >= len(units):
        raise QCError(
            "data.stratifier.fold_count",
            f"{fold_count} forward folds for {len(units)} training steps or groups; expected fewer than {len(units)}",
        )
    return [
        {"train": _rows([units[i] for i in fit]), "fold_validation": _rows([units[i] for i in held])}
        for fit, held in TimeSeriesSplit(n_splits=fold_count).split(np.arange(len(units)))
    ]
