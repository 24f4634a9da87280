"""Fitting sees only the training rows of each fold, categorical encoders too; unseen categories are handled."""

import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import fit, table
from sklearn.model_selection import KFold

from mlflow_qc.errors import QCError


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


def test_one_hot_learns_categories_from_the_training_rows_only_and_encodes_an_unseen_one_as_zeros():
    frame = pd.DataFrame({"color": ["red", "blue"] * 4 + ["green", "green"]})
    rows = {"train": np.arange(8), "fold_validation": np.array([8, 9])}
    fitted, arrays = fit(frame, rows, encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"]}])
    assert fitted.feature_names == [["color=blue", "color=red"]]  # green is only in held-out rows
    np.testing.assert_array_equal(arrays["fold_validation"].features[0], [[0, 0], [0, 0]])
    served = fitted.transform([pd.DataFrame({"color": ["green", "red", "purple"]})])  # what a served model does
    np.testing.assert_array_equal(served[0], [[0, 0], [0, 1], [0, 0]])


def test_with_min_frequency_the_training_rows_alone_decide_which_categories_survive():
    # "rare" is frequent in the test rows only: fitting on every row would have made it a column
    frame = pd.DataFrame({"city": ["a"] * 7 + ["b"] * 5 + ["rare"] + ["rare"] * 5 + ["only_test"] * 3})
    rows = {"train": np.arange(13), "test": np.arange(13, 21)}
    params = {"min_frequency": 3}
    fitted, arrays = fit(frame, rows, encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"], "params": params}])
    names = fitted.feature_names[0]
    assert names == ["city=a", "city=b", "city=infrequent_sklearn"]
    assert not any("only_test" in name for name in names)
    # "rare" (infrequent in training) and "only_test" (unseen) both land in the infrequent column
    np.testing.assert_array_equal(arrays["test"].features[0], [[0, 0, 1]] * 8)
    # over every row "rare" (6) outnumbers "b" (5) and would take the last place
    fitted, _ = fit(
        frame, rows, encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"], "params": {"max_categories": 3}}]
    )
    assert fitted.feature_names[0] == ["city=a", "city=b", "city=infrequent_sklearn"]


def test_ordinal_encoder_codes_an_unseen_category_minus_one():
    frame = pd.DataFrame({"size": ["s", "m", "l", "m", "s", "xl"]})
    rows = {"train": np.arange(5), "test": np.array([5])}
    fitted, arrays = fit(frame, rows, encoders=[{"sklearn": "OrdinalEncoder", "dtypes": ["str"]}])
    assert arrays["test"].features[0].tolist() == [[-1.0]]
    assert sorted(arrays["train"].features[0].ravel().tolist()) == [0, 1, 1, 2, 2]


@pytest.mark.parametrize("encoder", ["LabelEncoder", "LabelBinarizer"])
def test_an_encoder_that_cannot_encode_an_unseen_category_names_the_column_and_the_rows(encoder):
    frame = pd.DataFrame({"color": ["red", "blue", "green"] * 3 + ["teal"]})
    rows = {"train": np.arange(9), "test": np.array([9])}
    with pytest.raises(
        QCError, match=r"column 'color' of split 'test' has the category \['teal'\], which its training rows lack"
    ):
        fit(frame, rows, encoders=[{"sklearn": encoder, "dtypes": ["str"]}])


def test_a_recipe_that_asks_for_refusal_gets_it_with_the_rows_named():
    frame = pd.DataFrame({"color": ["red", "blue"] * 4 + ["green"]})
    rows = {"train": np.arange(8), "validation": np.array([8])}
    with pytest.raises(QCError, match="split 'validation' hold a category the training rows lack"):
        fit(
            frame,
            rows,
            encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"], "params": {"handle_unknown": "error"}}],
        )


def test_a_target_encoder_still_knows_every_class():
    frame = pd.DataFrame({"x": np.arange(6.0), "y": ["a", "b", "c", "a", "b", "c"]})
    rows = {"train": np.arange(4), "test": np.arange(4, 6)}
    fitted, _ = fit(frame, rows, target={"column": "y"})
    assert fitted.classes == ["a", "b", "c"]
