"""FittedPipeline: inference on new raw rows, pickling, several inputs, and bad inputs as QCErrors."""

import pickle

import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import datasets_of, fit, make_spec, table

from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess import FittedPipeline, validate
from mlflow_qc.recipe import Input, Pipeline, Target

ENCODED = dict(
    target={"column": "y", "encoder": {"sklearn": "LabelBinarizer"}},
    analysis_type="classification_binary",
    interpolaters=[{"columns": ["x"]}],
    encoders=[{"sklearn": "StandardScaler", "columns": ["x", "r"]}, {"sklearn": "OneHotEncoder", "dtypes": ["str"]}],
)


def gappy_table() -> pd.DataFrame:
    frame = table()
    frame.loc[[3, 27, 28], "x"] = np.nan
    return frame


ROWS = {"train": np.arange(0, 24), "test": np.arange(24, 30)}


def test_transform_of_new_raw_rows_equals_the_prepared_split():
    frame = gappy_table()
    fitted, arrays = fit(frame, ROWS, **ENCODED)
    assert fitted.raw_columns == [["x", "n", "color", "flag", "r", "species"]]
    assert fitted.raw_dtypes == [
        {"x": "float64", "n": "int64", "color": "str", "flag": "bool", "r": "float64", "species": "str"}
    ]
    new = frame.iloc[24:].drop(columns="y")[["species", "r", "flag", "color", "n", "x"]]  # order does not matter
    np.testing.assert_allclose(fitted.transform([new])[0], arrays["test"].features[0], atol=1e-12)
    np.testing.assert_array_equal(fitted.encode_target(frame["y"].iloc[24:]), arrays["test"].label)


def test_pickle_round_trip():
    frame = gappy_table()
    fitted, arrays = fit(frame, ROWS, **ENCODED)
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.feature_names == fitted.feature_names and restored.classes == fitted.classes
    np.testing.assert_array_equal(restored.transform([frame.iloc[24:]])[0], arrays["test"].features[0])
    np.testing.assert_array_equal(restored.decode_target(arrays["test"].label), frame["y"].iloc[24:])


def test_transform_names_a_missing_column():
    fitted, _ = fit(gappy_table(), ROWS, **ENCODED)
    with pytest.raises(QCError, match=r"inputs\[0\]: column\(s\) \['color'\] missing"):
        fitted.transform([gappy_table().drop(columns="color")])


def test_several_inputs_and_a_separate_target_dataset():
    frame = table()
    labels = pd.DataFrame({"x": frame["x"] * 2})  # same column name as a feature: not removed from the inputs
    spec = Pipeline(
        inputs=[
            Input(dataset=frame[["x", "n"]]),
            Input(dataset=frame[["color"]], encoders=[{"sklearn": "OneHotEncoder"}]),
        ],
        target=Target(column="x", dataset=labels),
    )
    datasets = datasets_of(spec)
    fitted, arrays = FittedPipeline.fit_transform(spec, datasets, load_dataset(spec.target.dataset), ROWS, "regression")
    assert fitted.feature_names == [["x", "n"], ["color=blue", "color=green", "color=red"]]
    assert [block.shape for block in arrays["test"].features] == [(6, 2), (6, 3)]
    np.testing.assert_array_equal(arrays["test"].label.ravel(), labels["x"][24:])


def test_validate_accepts_a_good_spec_without_fitting():
    spec = make_spec(
        gappy_table(), ENCODED["target"], interpolaters=ENCODED["interpolaters"], encoders=ENCODED["encoders"]
    )
    inputs, target = validate(spec, datasets_of(spec), None, "classification_binary")
    assert inputs[0].passthrough == ["n", "flag"] and target.column == "y" and target.categories is None


def _bad(**changes):
    """A valid recipe with ``changes`` applied: frame, target, analysis_type or Input fields."""
    frame = changes.pop("frame", table())
    target = changes.pop("target", {"column": "y"})
    analysis_type = changes.pop("analysis_type", "classification_binary")
    fields = {"encoders": [{"sklearn": "OneHotEncoder", "dtypes": ["str"]}], **changes}
    return make_spec(frame, target, **fields), analysis_type


BAD_BEFORE_FITTING = [
    (_bad(include_columns=["x", "nope"]), r"data\.inputs\[0\]\.include_columns: .*'nope'"),
    (_bad(exclude_columns=["nope"]), r"data\.inputs\[0\]\.exclude_columns: .*'nope'"),
    (_bad(include_columns=["x", "y"]), r"data\.inputs\[0\]\.include_columns: 'y' is the target column"),
    (
        _bad(
            encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["str"]}, {"sklearn": "StandardScaler", "dtypes": ["str"]}]
        ),
        r"data\.inputs\[0\]\.encoders\[1\]: matches no unclaimed column",
    ),
    (
        _bad(encoders=[{"sklearn": "OneHotEncoder", "columns": ["colour"]}]),
        r"data\.inputs\[0\]\.encoders\[0\]\.columns: .*'colour'",
    ),
    (
        _bad(encoders=[{"sklearn": "OneHotEncoder", "dtypes": ["flaot64"]}]),
        r"data\.inputs\[0\]\.encoders\[0\]\.dtypes: .*'flaot64'",
    ),
    (
        _bad(encoders=[{"sklearn": "OneHotEncoder", "columns": ["color"]}]),
        r"data\.inputs\[0\]\.encoders: column 'species' \(str\) is claimed by no encoder",
    ),
    (_bad(interpolaters=[{"dtypes": ["int"]}]), r"data\.inputs\[0\]\.interpolaters\[0\]: column 'n' has dtype int64"),
    (_bad(frame=table().assign(r=np.nan)), r"data\.inputs\[0\]: column 'r' has missing values; .*SimpleImputer"),
    (_bad(analysis_type="forecasting"), r"model\.analysis_type: forecasting learns the steps that follow a window"),
    (_bad(reshape_indices=[1, 0]), r"data\.inputs\[0\]\.reshape_indices: \[1, 0\]; expected 0 first"),
    (_bad(target={"column": "label"}), r"data\.target\.column: column\(s\) \['label'\] not in"),
    (
        _bad(analysis_type="regression"),
        r"data\.target\.column: 'y' has dtype str; expected a numeric target for regression",
    ),
    (_bad(target={"column": "species"}), r"data\.target\.column: 'species' has 3 classes; expected exactly 2"),
    (
        _bad(frame=table().assign(y="yes"), analysis_type="classification_multi"),
        r"data\.target\.column: 'y' has 1 class; expected at least 2",
    ),
    (
        _bad(frame=table().assign(y=np.where(np.arange(30) == 4, None, table()["y"]))),
        r"data\.target\.column: 'y' has 1 missing value",
    ),
    (
        _bad(target={"column": "y", "encoder": {"sklearn": "StandardScaler"}}),
        r"data\.target\.encoder: StandardScaler does not encode classes",
    ),
    (
        _bad(target={"column": "r", "encoder": {"sklearn": "OneHotEncoder"}}, analysis_type="regression"),
        r"data\.target\.encoder: OneHotEncoder encodes classes",
    ),
    (_bad(target={"column": "y", "interpolater": {}}), r"data\.target\.interpolater: column 'y' has dtype str"),
]


@pytest.mark.parametrize("case, message", BAD_BEFORE_FITTING)
def test_bad_inputs_fail_validation_naming_the_field(case, message):
    spec, analysis_type = case
    with pytest.raises(QCError, match=message):
        validate(spec, datasets_of(spec), None, analysis_type)


def test_inputs_with_different_sample_counts():
    frame = table()
    spec = Pipeline(inputs=[Input(dataset=frame), Input(dataset=frame.iloc[:10])], target=Target(column="n"))
    with pytest.raises(QCError, match=r"data\.inputs\[1\]\.dataset: 10 samples, but data\.inputs\[0\] has 30"):
        validate(spec, datasets_of(spec), None, "regression")


BAD_WHEN_FITTING = [
    (
        {"encoders": [{"sklearn": "StandardScaler", "columns": ["color"]}]},
        r"data\.inputs\[0\]\.encoders\[0\]: cannot fit StandardScaler on \['color'\]",
    ),
    (
        {"encoders": [{"sklearn": "OrdinalEncoder"}]},
        r"data\.inputs\[0\]: feature 'color' has missing values in split 'train' after preprocessing",
    ),
    (
        {"target": {"column": "species", "encoder": {"sklearn": "OneHotEncoder", "params": {"drop": "first"}}}},
        r"data\.target\.encoder: encodes 3 classes into 2 columns",
    ),
]


@pytest.mark.parametrize("changes, message", BAD_WHEN_FITTING)
def test_bad_inputs_when_fitting_name_the_field(changes, message):
    frame = table()[["color", "species"]]
    frame.loc[2, "color"] = None
    changes = {"encoders": [{"sklearn": "OneHotEncoder"}], "target": {"column": "species"}, **changes}
    with pytest.raises(QCError, match=message):
        fit(frame, {"train": np.arange(30)}, analysis_type="classification_multi", **changes)
