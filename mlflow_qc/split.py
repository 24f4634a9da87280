"""Seeded, stratified splits: train/validation/test and k folds of the training split.

Sizes are shares of all samples. Stratification is by class for classification, by
quantile bins (``bin_count``, default 3 as in AIQC) for a continuous target.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from mlflow_qc.errors import QCError, one_line
from mlflow_qc.recipe import Stratifier

SPLIT_ORDER = ("train", "validation", "test")
REFIT_CONTEXT = "refit"  # train + validation, after the search
DEFAULT_BIN_COUNT = 3


@dataclass
class Splits:
    seed: int
    splits: dict[str, np.ndarray]
    folds: list[dict[str, np.ndarray]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "splits": {name: rows.tolist() for name, rows in self.splits.items()},
            "folds": [{name: rows.tolist() for name, rows in fold.items()} for fold in self.folds],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict) -> "Splits":
        as_rows = lambda rows: np.asarray(rows, dtype=np.int64)  # noqa: E731
        return cls(
            seed=raw["seed"],
            splits={name: as_rows(rows) for name, rows in raw["splits"].items()},
            folds=[{name: as_rows(rows) for name, rows in fold.items()} for fold in raw.get("folds", [])],
        )

    def contexts(self) -> dict[str, dict[str, np.ndarray]]:
        """Each fitting of the preprocessing and its splits; ``train`` holds the fit rows."""
        if not self.folds:
            return {"all": dict(self.splits)}
        held_out = {name: rows for name, rows in self.splits.items() if name != "train"}
        return {
            f"fold_{k}": {"train": fold["train"], "fold_validation": fold["fold_validation"], **held_out}
            for k, fold in enumerate(self.folds)
        }


def declared_splits(stratifier: Stratifier) -> list[str]:
    """The splits every model of a recipe is evaluated on."""
    declared = {"train": True, "fold_validation": stratifier.fold_count, "validation": stratifier.size_validation,
                "test": stratifier.size_test}
    return [name for name, present in declared.items() if present]


def refit_rows(splits: Splits) -> dict[str, np.ndarray]:
    """The refit context's rows: train and validation together as its training rows, test as it was."""
    rows = splits.splits
    fit_rows = np.sort(np.concatenate([rows[s] for s in ("train", "validation") if s in rows]))
    return {"train": fit_rows, **({"test": rows["test"]} if "test" in rows else {})}


def stratification_labels(target: pd.Series | None, classification: bool | None, bin_count: int | None) -> np.ndarray | None:
    """The labels splits are stratified by: classes, or quantile bins of a continuous target."""
    if target is None:
        return None
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    continuous = pd.api.types.is_float_dtype(target) if classification is None else not classification
    if bin_count is not None and not numeric:
        raise QCError("data.stratifier.bin_count", f"target '{target.name}' is {target.dtype}, not numeric; expected no bin_count")
    if continuous or (bin_count is not None and not classification):
        bins = pd.qcut(target, q=bin_count or DEFAULT_BIN_COUNT, labels=False, duplicates="drop")
        return bins.fillna(-1).to_numpy(dtype=np.int64)
    return target.astype(str).to_numpy()


def make_splits(n_samples: int, strata: np.ndarray | None, stratifier: Stratifier, seed: int) -> Splits:
    rows = np.arange(n_samples)
    _require_rows_per_class(strata, stratifier)
    splits: dict[str, np.ndarray] = {}
    rest, rest_strata = rows, strata
    if stratifier.size_test:
        rest, splits["test"], rest_strata = _split_off(rest, rest_strata, stratifier.size_test, seed, "size_test")
    if stratifier.size_validation:
        share = stratifier.size_validation / (len(rest) / n_samples)
        rest, splits["validation"], rest_strata = _split_off(rest, rest_strata, share, seed, "size_validation")
    splits["train"] = np.sort(rest)
    splits = {name: splits[name] for name in SPLIT_ORDER if name in splits}
    folds = _folds(splits["train"], None if strata is None else strata[splits["train"]], stratifier.fold_count, seed)
    return Splits(seed=seed, splits=splits, folds=folds)


def _require_rows_per_class(strata: np.ndarray | None, stratifier: Stratifier) -> None:
    """Stratification puts every class in every split; a class with fewer rows cannot be."""
    names = ["train"] + [name for name, size in (("validation", stratifier.size_validation), ("test", stratifier.size_test)) if size]
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


def _split_off(rows, strata, share, seed, field_name):
    try:
        if strata is None:
            keep, taken = train_test_split(rows, test_size=share, random_state=seed, shuffle=True)
            return keep, np.sort(taken), None
        keep, taken, keep_strata, _ = train_test_split(
            rows, strata, test_size=share, random_state=seed, shuffle=True, stratify=strata
        )
    except ValueError as exc:
        raise QCError(f"data.stratifier.{field_name}", f"cannot stratify this split ({one_line(exc)}); expected a larger share or more rows per class") from None
    order = np.argsort(keep)
    return keep[order], np.sort(taken), keep_strata[order]


def _folds(train: np.ndarray, strata: np.ndarray | None, fold_count: int | None, seed: int) -> list[dict]:
    if not fold_count:
        return []
    if fold_count > len(train):
        raise QCError("data.stratifier.fold_count", f"{fold_count} folds for {len(train)} training rows; expected at most {len(train)}")
    if strata is None:
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
        for fit, held in splitter.split(train, strata)
    ]
