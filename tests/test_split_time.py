"""Time-ordered and grouped splits, and windows cut inside their blocks."""

import numpy as np
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.recipe import Stratifier
from mlflow_qc.split import Splits, make_splits


def covered(spans) -> set[int]:
    return {step for first, last in np.asarray(spans).reshape(-1, 2) for step in range(first, last + 1)}


def test_time_order_gives_contiguous_blocks_test_last_and_forward_folds():
    splits = make_splits(100, None, Stratifier(order="time", size_test=0.1, size_validation=0.2, fold_count=3), seed=0)
    train, validation, test = (splits.splits[s] for s in ("train", "validation", "test"))
    np.testing.assert_array_equal(test, np.arange(90, 100))
    np.testing.assert_array_equal(validation, np.arange(70, 90))
    np.testing.assert_array_equal(train, np.arange(70))
    previous_end = -1
    for fold in splits.folds:
        assert fold["train"].max() < fold["fold_validation"].min()  # validates on the block after its training rows
        np.testing.assert_array_equal(fold["train"], np.arange(fold["train"].max() + 1))
        assert fold["fold_validation"].min() > previous_end
        previous_end = fold["fold_validation"].max()
    assert previous_end == 69


def test_windows_cut_inside_blocks_share_no_time_step():
    window = (7, 3)
    splits = make_splits(
        300, None, Stratifier(order="time", size_test=0.15, size_validation=0.15, fold_count=3), 0, window=window
    )
    raw = Splits.from_dict(splits.to_dict())
    steps = {name: covered(spans) for name, spans in raw.steps.items()}
    assert steps["train"].isdisjoint(steps["validation"]) and steps["validation"].isdisjoint(steps["test"])
    assert steps["train"].isdisjoint(steps["test"])
    for name, starts in raw.splits.items():
        np.testing.assert_array_equal(raw.steps[name][:, 0], starts)
        np.testing.assert_array_equal(raw.steps[name][:, 1], starts + 9)
    for fold in raw.fold_steps:
        assert covered(fold["train"]).isdisjoint(covered(fold["fold_validation"]))
        assert max(covered(fold["train"])) < min(covered(fold["fold_validation"]))
    assert max(steps["test"]) == 299 and min(steps["test"]) == 255  # the last 45 steps, every window inside them


def test_groups_never_span_two_splits_or_two_folds():
    groups = np.repeat([f"g{k}" for k in range(30)], 4)
    strata = np.repeat(np.tile(["a", "b"], 15), 4)
    for order in ("random", "time"):
        splits = make_splits(
            120, strata, Stratifier(order=order, size_test=0.2, fold_count=3, group_column="g"), 1, groups=groups
        )
        held_out = set(groups[splits.splits["test"]])
        assert held_out and held_out.isdisjoint(groups[splits.splits["train"]])
        for fold in splits.folds:
            assert set(groups[fold["train"]]).isdisjoint(groups[fold["fold_validation"]])
    assert held_out == {f"g{k}" for k in range(24, 30)}  # time order: the last groups


def test_a_block_too_short_for_a_window_is_named():
    with pytest.raises(
        QCError, match=r"data.stratifier.size_test: the test block has 3 time step\(s\), too few for one window of 6"
    ):
        make_splits(30, None, Stratifier(order="time", size_test=0.1), 0, window=(4, 2))
    with pytest.raises(QCError, match="data.stratifier.fold_count"):
        make_splits(30, None, Stratifier(order="time", fold_count=30), 0)


def test_windows_need_a_time_order():
    from mlflow_qc.recipe import Input, Pipeline

    with pytest.raises(ValueError, match="expected stratifier.order: time"):
        Pipeline(inputs=[Input(dataset=np.zeros((5, 2, 2)), window={"size_window": 2, "size_shift": 1})])
