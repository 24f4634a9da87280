"""Fitting sees only the training rows of each fold; categorical encoders see every category."""
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from preprocess_helpers import fit, table


def fold_rows(n_samples: int, n_splits: int = 5):
    splitter = KFold(n_splits=n_splits, shuffle=True, random_state=0)
    return [{"train": train, "fold_validation": held_out} for train, held_out in splitter.split(np.arange(n_samples))]


def test_scaler_is_fit_on_each_folds_training_rows_only():
    frame = table()[["x", "n", "r"]]
    for rows in fold_rows(len(frame)):
        _, arrays = fit(frame, rows, encoders=[{"sklearn": "StandardScaler"}])
        train, held_out = arrays["train"].features[0], arrays["fold_validation"].features[0]
        np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-9)
        assert np.abs(held_out.mean(axis=0)).max() > 1e-3


def test_non_categorical_encoder_learns_nothing_from_held_out_rows():
    frame = pd.DataFrame({"x": np.arange(10.0)})
    rows = {"train": np.arange(2, 8), "test": np.array([0, 1, 8, 9])}
    _, arrays = fit(frame, rows, encoders=[{"sklearn": "MinMaxScaler"}])
    assert arrays["train"].features[0].min() == 0 and arrays["train"].features[0].max() == 1
    np.testing.assert_allclose(arrays["test"].features[0].ravel(), [-0.4, -0.2, 1.2, 1.4])


def test_one_hot_knows_a_category_absent_from_the_folds_training_rows():
    frame = pd.DataFrame({"color": ["red", "blue"] * 4 + ["green", "green"]})
    rows = {"train": np.arange(8), "fold_validation": np.array([8, 9])}
    fitted, arrays = fit(frame, rows, encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"]}])
    assert fitted.feature_names == [["color=blue", "color=green", "color=red"]]
    np.testing.assert_array_equal(arrays["fold_validation"].features[0], [[0, 1, 0], [0, 1, 0]])
    assert arrays["train"].features[0][:, 1].sum() == 0
