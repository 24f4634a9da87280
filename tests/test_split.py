"""Seeded, stratified splits and folds."""

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_qc import QCError, Stratifier
from mlflow_qc.split import Splits, make_splits, stratification_labels


def _labels(n=200, seed=0):
    return pd.Series(np.random.default_rng(seed).choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]), name="y")


def test_splits_are_disjoint_complete_and_stratified():
    y = _labels()
    strata = stratification_labels(y, True, None)
    splits = make_splits(len(y), strata, Stratifier(size_test=0.2, size_validation=0.2, fold_count=4), seed=3)
    rows = np.concatenate(list(splits.splits.values()))
    assert sorted(rows.tolist()) == list(range(len(y)))
    overall = y.value_counts(normalize=True)
    for name, part in splits.splits.items():
        shares = y.iloc[part].value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.03, name
    assert len(splits.splits["test"]) == 40 and len(splits.splits["validation"]) == 40
    for fold in splits.folds:
        assert set(fold["train"]).isdisjoint(fold["fold_validation"])
        assert (
            sorted(np.concatenate([fold["train"], fold["fold_validation"]]).tolist()) == splits.splits["train"].tolist()
        )
    held_out = np.concatenate([f["fold_validation"] for f in splits.folds])
    assert sorted(held_out.tolist()) == splits.splits["train"].tolist()


def test_same_seed_same_json_other_seed_differs():
    y = _labels()
    make = lambda seed: make_splits(
        len(y), stratification_labels(y, True, None), Stratifier(size_test=0.2, fold_count=3), seed
    )  # noqa: E731
    assert make(42).to_json() == make(42).to_json()
    assert make(42).to_json() != make(43).to_json()
    raw = json.loads(make(42).to_json())
    assert set(raw) == {"seed", "splits", "folds"} and raw["seed"] == 42
    assert Splits.from_dict(raw).to_json() == make(42).to_json()


def test_continuous_target_is_binned_by_quantiles():
    y = pd.Series(np.arange(90, dtype=float), name="t")
    strata = stratification_labels(y, False, 3)
    assert np.bincount(strata).tolist() == [30, 30, 30]
    splits = make_splits(90, strata, Stratifier(size_test=0.3), seed=0)
    assert np.bincount(strata[splits.splits["test"]]).tolist() == [9, 9, 9]


def test_more_folds_than_the_smallest_class_is_an_error():
    y = pd.Series(["a"] * 40 + ["b"] * 3)
    with pytest.raises(
        QCError, match=r"data\.stratifier\.fold_count: 5 folds need at least 5 training rows .*'b' has 3"
    ):
        make_splits(len(y), stratification_labels(y, True, None), Stratifier(fold_count=5), seed=0)


def test_no_target_means_unstratified_splits():
    splits = make_splits(50, None, Stratifier(size_test=0.2, fold_count=5), seed=1)
    assert len(splits.splits["test"]) == 10 and len(splits.folds) == 5
