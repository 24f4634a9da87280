"""Target encoding, classes, class indices and decoding back to the original labels/scale."""

import numpy as np
import pandas as pd
from preprocess_helpers import fit, table
from sklearn.datasets import load_diabetes, load_iris


def iris_frame() -> pd.DataFrame:
    iris = load_iris(as_frame=True)
    frame = iris.data.copy()
    frame["species"] = iris.target_names[iris.target].astype(str)
    return frame


def test_label_binarizer_binary_target():
    frame = table()[["x", "n", "y"]]
    rows = {"train": np.arange(20), "test": np.arange(20, 30)}
    fitted, arrays = fit(
        frame,
        rows,
        target={"column": "y", "encoder": {"sklearn": "LabelBinarizer"}},
        analysis_type="classification_binary",
    )
    assert fitted.raw_columns == [["x", "n"]] and fitted.label_name == "y"
    assert fitted.classes == ["no", "yes"]
    label = arrays["test"].label
    assert label.shape == (10, 1) and label.dtype == np.float64
    np.testing.assert_array_equal(label.ravel(), frame["y"][20:] == "yes")
    np.testing.assert_array_equal(fitted.decode_target(label), frame["y"][20:])
    np.testing.assert_array_equal(fitted.class_index(np.array([[0.2], [0.7]])), [0, 1])
    np.testing.assert_array_equal(fitted.decode_target(np.array([0.2, 0.7])), ["no", "yes"])


def test_one_hot_multi_class_target():
    frame = iris_frame()
    rows = {"train": np.arange(0, 150, 2), "validation": np.arange(1, 150, 2)}
    fitted, arrays = fit(
        frame,
        rows,
        target={"column": "species", "encoder": {"sklearn": "OneHotEncoder"}},
        analysis_type="classification_multi",
    )
    assert fitted.classes == ["setosa", "versicolor", "virginica"]
    label = arrays["validation"].label
    assert label.shape == (75, 3)
    np.testing.assert_array_equal(fitted.decode_target(label), frame["species"][1::2])
    np.testing.assert_array_equal(fitted.class_index(np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])), [2, 0])
    np.testing.assert_array_equal(fitted.encode_target(frame["species"][1::2]), label)


def test_classification_without_encoder_is_ordinal_in_sorted_class_order():
    frame = iris_frame()
    fitted, arrays = fit(
        frame, {"train": np.arange(150)}, target={"column": "species"}, analysis_type="classification_multi"
    )
    assert fitted.classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(arrays["train"].label.ravel(), load_iris().target)
    np.testing.assert_array_equal(fitted.class_index(arrays["train"].label), load_iris().target)


def test_power_transformer_regression_is_fit_on_training_rows_and_decodes_to_original_scale():
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.data.assign(progression=data.target)
    rows = {"train": np.arange(300), "test": np.arange(300, len(frame))}
    fitted, arrays = fit(
        frame,
        rows,
        target={"column": "progression", "encoder": {"sklearn": "PowerTransformer"}},
        analysis_type="regression",
    )
    assert fitted.classes is None
    assert abs(arrays["train"].label.mean()) < 1e-9 and abs(arrays["test"].label.mean()) > 1e-3
    for split, positions in rows.items():
        np.testing.assert_allclose(
            fitted.decode_target(arrays[split].label), frame["progression"].to_numpy()[positions], atol=1e-9
        )


def test_regression_without_encoder_keeps_values():
    frame = pd.DataFrame({"f": [1.0, 2.0, 3.0], "t": [10, 20, 30]})
    fitted, arrays = fit(frame, {"train": np.arange(3)}, target={"column": "t"}, analysis_type="regression")
    np.testing.assert_array_equal(arrays["train"].label, [[10.0], [20.0], [30.0]])
    np.testing.assert_array_equal(fitted.decode_target(arrays["train"].label), [10, 20, 30])


def test_without_analysis_type_it_is_inferred_from_target_and_encoder():
    fitted, _ = fit(table()[["x", "y"]], {"train": np.arange(30)}, target={"column": "y"})
    assert fitted.target.analysis_type == "classification_binary" and fitted.classes == ["no", "yes"]
    fitted, _ = fit(table()[["x", "r"]], {"train": np.arange(30)}, target={"column": "r"})
    assert fitted.target.analysis_type == "regression" and fitted.classes is None
