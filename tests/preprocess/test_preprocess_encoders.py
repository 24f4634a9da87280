"""Column claiming, dtype matching, dense output and encoded column names."""

import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import fit, table

from mlflow_qc.preprocess.filters import dtype_matches

ALL = {"train": np.arange(30)}


@pytest.mark.parametrize(
    "dtype, name, expected",
    [
        ("float64", "float64", True),
        ("float64", "float", True),
        ("float32", "float", True),
        ("float64", "f8", True),
        ("float64", "double", True),
        ("float64", "number", True),
        ("int64", "int", True),
        ("int64", "number", True),
        ("int64", "float", False),
        ("bool", "bool", True),
        ("bool", "number", False),
        ("object", "str", True),
        ("object", "object", True),
        ("str", "object", True),
        ("str", "string", True),
        ("str", "str", True),
        ("str", "number", False),
        ("category", "category", True),
        ("category", "str", False),
        ("Int64", "int", True),
        ("Int64", "Int64", True),
    ],
)
def test_dtype_matching_is_forgiving(dtype, name, expected):
    assert dtype_matches(pd.Series([], dtype=dtype).dtype, name) is expected


def test_encoders_claim_in_order_and_pass_through_the_rest():
    fitted, arrays = fit(
        table()[["x", "n", "color", "flag", "r"]],
        ALL,
        encoders=[
            {"sklearn": "MinMaxScaler", "columns": ["r"]},
            {"sklearn": "StandardScaler", "dtypes": ["number"]},  # r is already claimed
            {"sklearn": "OneHotEncoder", "dtypes": ["str"]},
        ],
    )
    assert fitted.feature_names == [["r", "x", "n", "color=blue", "color=green", "color=red", "flag"]]
    features = arrays["train"].features[0]
    assert features.dtype == np.float64
    assert features[:, 0].min() == 0 and features[:, 0].max() == 1
    np.testing.assert_allclose(features[:, 1:3].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_array_equal(features[:, 6], table()["flag"].astype(float))


def test_include_false_claims_every_column_the_filter_does_not_match():
    fitted, arrays = fit(
        table()[["x", "n", "color"]],
        ALL,
        encoders=[{"sklearn": "StandardScaler", "dtypes": ["str"], "include": False}, {"sklearn": "OrdinalEncoder"}],
    )
    assert fitted.feature_names == [["x", "n", "color"]]
    assert set(arrays["train"].features[0][:, 2]) == {0.0, 1.0, 2.0}


def test_names_of_one_dimensional_encoders():
    frame = table()[["y", "species", "color"]]
    fitted, arrays = fit(
        frame,
        ALL,
        encoders=[
            {"sklearn": "LabelBinarizer", "columns": ["y", "species"]},
            {"sklearn": "LabelEncoder", "columns": ["color"]},
        ],
    )
    assert fitted.feature_names == [["y=yes", "species=a", "species=b", "species=c", "color"]]
    features = arrays["train"].features[0]
    np.testing.assert_array_equal(features[:, 0], frame["y"] == "yes")
    np.testing.assert_array_equal(features[:, 4], pd.Categorical(frame["color"]).codes)


def test_output_is_dense_even_when_the_user_asks_for_sparse():
    fitted, arrays = fit(
        table()[["color"]], ALL, encoders=[{"sklearn": "OneHotEncoder", "params": {"sparse_output": True}}]
    )
    assert isinstance(arrays["train"].features[0], np.ndarray)
    np.testing.assert_array_equal(arrays["train"].features[0].sum(axis=1), 1)


def test_dotted_path_encoder_fills_missing_values_from_training_rows():
    frame = pd.DataFrame({"x": [1.0, 3.0, np.nan, 100.0]})
    _, arrays = fit(
        frame,
        {"train": np.array([0, 1, 2]), "test": np.array([3])},
        encoders=[{"sklearn": "sklearn.impute.SimpleImputer", "params": {"strategy": "mean"}}],
    )
    np.testing.assert_array_equal(arrays["train"].features[0].ravel(), [1, 3, 2])
