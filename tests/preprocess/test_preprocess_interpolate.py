"""Seed semantics: training rows alone, other splits with the training rows as context."""

import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import fit

from mlflow_qc.errors import QCError

NAN = np.nan
# position:        0    1    2    3    4    5    6    7
VALUES = np.array([1.0, NAN, 3.0, NAN, NAN, 6.0, NAN, 8.0])
ROWS = {"train": np.array([5, 0, 1]), "validation": np.array([2, 3, 4, 6, 7])}


def test_training_rows_alone_then_other_splits_with_training_context():
    fitted, arrays = fit(pd.DataFrame({"x": VALUES}), ROWS, interpolaters=[{"dtypes": ["float"]}])
    # train alone, in row order: 1, nan, 6 -> position 1 is 3.5 (not 2, which position 2 would give)
    np.testing.assert_array_equal(arrays["train"].features[0].ravel(), [6.0, 1.0, 3.5])
    # validation among the training rows: 1, 3.5, 3, nan, nan, 6, nan, 8
    np.testing.assert_array_equal(arrays["validation"].features[0].ravel(), [3.0, 4.0, 5.0, 7.0, 8.0])
    # new rows follow the stored training rows: 1, 3.5, 6, nan, 10
    new = fitted.transform([pd.DataFrame({"x": [NAN, 10.0]})])[0]
    np.testing.assert_array_equal(new.ravel(), [8.0, 10.0])


def test_interpolation_kwargs_reach_dataframe_interpolate():
    frame = pd.DataFrame({"x": [NAN, 2.0, NAN, 4.0, NAN]})
    _, arrays = fit(
        frame,
        {"train": np.arange(5)},
        interpolaters=[{"columns": ["x"], "method": "linear", "limit_direction": "forward"}],
        encoders=[{"sklearn": "sklearn.impute.SimpleImputer", "params": {"fill_value": -1.0, "strategy": "constant"}}],
    )
    np.testing.assert_array_equal(arrays["train"].features[0].ravel(), [-1.0, 2.0, 3.0, 4.0, 4.0])


def test_target_interpolation_uses_training_context():
    frame = pd.DataFrame({"f": np.arange(8.0), "t": VALUES})
    _, arrays = fit(frame, ROWS, target={"column": "t", "interpolater": {}}, analysis_type="regression")
    np.testing.assert_array_equal(arrays["train"].label.ravel(), [6.0, 1.0, 3.5])
    np.testing.assert_array_equal(arrays["validation"].label.ravel(), [3.0, 4.0, 5.0, 7.0, 8.0])


def test_interpolating_a_non_float_column_names_interpolater_column_and_dtype():
    frame = pd.DataFrame({"x": [1.0, NAN], "n": [1, 2]})
    with pytest.raises(
        QCError, match=r"data\.inputs\[0\]\.interpolaters\[0\]: column 'n' has dtype int64; expected float"
    ):
        fit(frame, {"train": np.arange(2)}, interpolaters=[{"columns": ["x", "n"]}])
