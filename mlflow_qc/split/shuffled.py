"""``order: random``: shuffled, stratified splits and folds; with ``group_column``, whole groups."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from mlflow_qc.errors import QCError, one_line


def shuffled_blocks(n_rows: int, strata, stratifier, seed: int, groups=None) -> tuple[dict, list]:
    """(split -> rows, folds of the training rows), every split a seeded draw."""
    rows = np.arange(n_rows)
    if groups is None:
        _require_rows_per_class(strata, stratifier)
    splits: dict[str, np.ndarray] = {}
    rest, rest_strata = rows, strata
    if stratifier.size_test:
        rest, splits["test"], rest_strata = _split_off(
            rest, rest_strata, groups, stratifier.size_test, seed, "size_test"
        )
    if stratifier.size_validation:
        share = stratifier.size_validation / (
            1 - (stratifier.size_test or 0) if groups is not None else len(rest) / n_rows
        )
        rest, splits["validation"], rest_strata = _split_off(rest, rest_strata, groups, share, seed, "size_validation")
    splits["train"] = np.sort(rest)
    train = splits["train"]
    folds = _folds(
        train,
        None if strata is None else strata[train],
        None if groups is None else groups[train],
        stratifier.fold_count,
        seed,
    )
    return splits, folds


def _require_rows_per_class(strata, stratifier) -> None:
    """Stratification puts every class in every split; a class with fewer rows cannot be."""
    names = ["train"] + [
        name for name, size in (("validation", stratifier.size_validation), ("test", stratifier.size_test)) if size
    ]
    if strata is None or len(names) == 1:
        return
    values, counts = np.unique(strata, return_counts=True)
    smallest = int(np.argmin(counts))
    if counts[smallest] < len(names):
        raise QCError(
            "data.target.column",
            f"class '{values[smallest]}' has {counts[smallest]} row(s); expected at least {len(names)} per class to "
            f"stratify it into {' / '.join(names)}: drop or merge that class's rows, or declare fewer splits",
        )


def _split_off(rows, strata, groups, share, seed, field_name):
    if groups is not None:
        return _groups_off(rows, strata, groups[rows], share, seed, field_name)
    try:
        if strata is None:
            keep, taken = train_test_split(rows, test_size=share, random_state=seed, shuffle=True)
            return keep, np.sort(taken), None
        keep, taken, keep_strata, _ = train_test_split(
            rows, strata, test_size=share, random_state=seed, shuffle=True, stratify=strata
        )
    except ValueError as exc:
        raise QCError(
            f"data.stratifier.{field_name}",
            f"cannot stratify this split ({one_line(exc)}); expected a larger share or more rows per class",
        ) from None
    order = np.argsort(keep)
    return keep[order], np.sort(taken), keep_strata[order]


def _groups_off(rows, strata, groups, share, seed, field_name):
    if len(np.unique(groups)) < 2:
        raise QCError(
            f"data.stratifier.{field_name}", "the rows left hold one group; expected at least two groups to split"
        )
    keep, taken = next(GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed).split(rows, groups=groups))
    return rows[keep], rows[taken], None if strata is None else strata[keep]


def _folds(train: np.ndarray, strata, groups, fold_count: int | None, seed: int) -> list[dict]:
    if not fold_count:
        return []
    if groups is not None:
        count = len(np.unique(groups))
        if fold_count > count:
            raise QCError(
                "data.stratifier.fold_count",
                f"{fold_count} folds for {count} groups in the training split; expected at most {count}",
            )
        splitter = (
            StratifiedGroupKFold(n_splits=fold_count, shuffle=True, random_state=seed)
            if strata is not None
            else GroupKFold(n_splits=fold_count, shuffle=True, random_state=seed)
        )
    elif fold_count > len(train):
        raise QCError(
            "data.stratifier.fold_count",
            f"{fold_count} folds for {len(train)} training rows; expected at most {len(train)}",
        )
    elif strata is None:
        splitter = KFold(n_splits=fold_count, shuffle=True, random_state=seed)
    else:
        values, counts = np.unique(strata, return_counts=True)
        smallest = int(np.argmin(counts))
        if counts[smallest] < fold_count:
            raise QCError(
                "data.stratifier.fold_count",
                f"{fold_count} folds need at least {fold_count} training rows of every class or bin; "
                f"'{values[smallest]}' has {counts[smallest]}; expected fewer folds",
            )
        splitter = StratifiedKFold(n_splits=fold_count, shuffle=True, random_state=seed)
    return [
        {"train": np.sort(train[fit]), "fold_validation": np.sort(train[held])}
        for fit, held in splitter.split(train, strata, groups)
    ]
