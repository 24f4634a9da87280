"""Sequences and images: encoders fit per channel on each fold's training samples alone (leak-free),
interpolation along time, AIQC's reshape_indices, text vectorizers on a column."""

import numpy as np
import pandas as pd
import pytest
from preprocess_helpers import fit
from sklearn.model_selection import KFold

from mlflow_qc.errors import QCError

RNG = np.random.default_rng(1)
SEQUENCES = RNG.normal([3.0, -2.0], [1.0, 5.0], size=(40, 25, 2))  # samples x timesteps x channels
IMAGES = RNG.integers(0, 256, size=(30, 3, 6, 5)).astype(np.float64)  # samples x channels x rows x columns


def folds(n_samples, n_splits=4):
    return [
        {"train": train, "fold_validation": held}
        for train, held in KFold(n_splits, shuffle=True, random_state=0).split(np.arange(n_samples))
    ]


def scaler_of(fitted):
    return fitted.inputs[0].encoders[0].fitted[0]


def test_a_sequence_scaler_sees_each_folds_training_samples_alone_per_channel():
    for rows in folds(len(SEQUENCES)):
        fitted, arrays = fit(SEQUENCES, rows, encoders=[{"sklearn": "StandardScaler"}])
        alone = SEQUENCES[np.sort(rows["train"])].reshape(-1, 2)  # every timestep of the training samples, per channel
        np.testing.assert_allclose(scaler_of(fitted).mean_, alone.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(scaler_of(fitted).scale_, alone.std(axis=0), rtol=1e-12)
        assert arrays["train"].features[0].shape == (len(rows["train"]), 25, 2)
        expected = (SEQUENCES[rows["fold_validation"]] - alone.mean(axis=0)) / alone.std(axis=0)
        np.testing.assert_allclose(arrays["fold_validation"].features[0], expected, rtol=1e-10)


def test_an_image_scaler_sees_each_folds_training_images_alone_per_channel():
    for rows in folds(len(IMAGES)):
        fitted, arrays = fit(IMAGES, rows, encoders=[{"sklearn": "MinMaxScaler"}])
        pixels = np.moveaxis(IMAGES[np.sort(rows["train"])], 1, -1).reshape(-1, 3)  # every pixel, per channel
        np.testing.assert_array_equal(scaler_of(fitted).data_min_, pixels.min(axis=0))
        np.testing.assert_array_equal(scaler_of(fitted).data_max_, pixels.max(axis=0))
        train = arrays["train"].features[0]
        assert train.shape == (len(rows["train"]), 3, 6, 5)
        assert train.min() == 0 and train.max() == 1
        assert fitted.feature_names == [["channel_0", "channel_1", "channel_2"]]


def test_new_samples_transform_as_the_prepared_split():
    rows = folds(len(IMAGES))[0]
    fitted, arrays = fit(IMAGES, rows, encoders=[{"sklearn": "StandardScaler", "columns": ["channel_1"]}])
    [again] = fitted.transform([IMAGES[rows["fold_validation"]]])
    np.testing.assert_allclose(again, arrays["fold_validation"].features[0])
    assert fitted.feature_names == [["channel_1", "channel_0", "channel_2"]]  # as tables: encoded first, then the rest
    np.testing.assert_array_equal(again[:, 1], IMAGES[rows["fold_validation"], 0])  # unclaimed channels pass through
    with pytest.raises(QCError, match=r"samples of shape \(3, 6, 4\); expected \(3, 6, 5\) per sample"):
        fitted.transform([IMAGES[:2, :, :, :4]])


def test_sequences_are_interpolated_along_their_own_time_axis():
    gappy = SEQUENCES.copy()
    gappy[0, 5, 0] = np.nan
    gappy[3, [0, 1], 1] = np.nan  # leading gap: filled backwards from the sample's own values
    rows = {"train": np.arange(30), "test": np.arange(30, 40)}
    _, arrays = fit(gappy, rows, interpolaters=[{"method": "linear"}])
    filled = arrays["train"].features[0]
    assert filled[0, 5, 0] == pytest.approx((gappy[0, 4, 0] + gappy[0, 6, 0]) / 2)
    np.testing.assert_allclose(filled[3, [0, 1], 1], gappy[3, 2, 1])
    np.testing.assert_array_equal(filled[1:3], SEQUENCES[1:3])  # other samples untouched


def test_missing_values_left_in_a_sequence_name_the_channel():
    gappy = SEQUENCES.copy()
    gappy[2, 3, 1] = np.nan
    with pytest.raises(QCError, match="channel 'channel_1' has missing values in split 'train'"):
        fit(gappy, {"train": np.arange(40)}, encoders=[{"sklearn": "StandardScaler"}])


@pytest.mark.parametrize(
    "data, indices, expected",
    [
        (IMAGES[:, :1], [0, 2, 3], (30, 6, 5)),
        (IMAGES, [0, [1, 2], 3], (30, 18, 5)),
        (SEQUENCES, [0, "1", 1, 2], (40, 1, 25, 2)),
        (pd.DataFrame({"a": np.arange(8.0), "b": np.ones(8)}), [0, 1, "1"], (8, 2, 1)),
    ],
)
def test_reshape_indices_as_aiqc_shape(data, indices, expected):
    rows = {"train": np.arange(len(data))}
    fitted, arrays = fit(data, rows, reshape_indices=indices)
    assert arrays["train"].features[0].shape == expected
    raw = data.iloc[:2] if isinstance(data, pd.DataFrame) else data[:2]
    assert fitted.transform([raw])[0].shape == (2, *expected[1:])


@pytest.mark.parametrize(
    "indices, message",
    [
        ([1, 2], "expected 0 first: the samples stay the first dimension"),
        ([0, 5], "index 5 for features of shape (40, 25, 2); expected indices below 3"),
        ([0, 1], "turns features of shape (40, 25, 2) into (40, 25): 25 values per sample instead of 50"),
        ([0, "x"], "'x' is not a literal size"),
    ],
)
def test_bad_reshape_indices_are_named(indices, message):
    with pytest.raises(QCError) as raised:
        fit(SEQUENCES, {"train": np.arange(40)}, reshape_indices=indices)
    assert "data.inputs[0].reshape_indices" in str(raised.value) and message in str(raised.value)


def test_a_text_vectorizer_is_fit_on_the_training_rows_of_its_column():
    frame = pd.DataFrame(
        {
            "text": ["red apple", "green apple", "red car", "blue sky", "zebra crossing", "green zebra"],
            "n": [1.0, 2, 3, 4, 5, 6],
        }
    )
    rows = {"train": np.arange(4), "test": np.array([4, 5])}
    fitted, arrays = fit(
        frame, rows, encoders=[{"sklearn": "sklearn.feature_extraction.text.CountVectorizer", "columns": ["text"]}]
    )
    names = fitted.feature_names[0]
    assert names == ["text=apple", "text=blue", "text=car", "text=green", "text=red", "text=sky", "n"]
    assert "text=zebra" not in names  # a word only the test rows have is not learnt
    np.testing.assert_array_equal(arrays["test"].features[0][:, :6], [[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]])


def test_inputs_of_different_kinds_must_agree_on_the_sample_count():
    from mlflow_qc.data.dataset import load_dataset
    from mlflow_qc.preprocess import FittedPipeline, validate
    from mlflow_qc.recipe import Input, Pipeline, Target

    table = pd.DataFrame({"age": RNG.normal(50, 10, 40), "label": np.tile(["a", "b"], 20)})
    spec = Pipeline(
        inputs=[Input(dataset=SEQUENCES), Input(dataset=table, encoders=[{"sklearn": "StandardScaler"}])],
        target=Target(column="label", dataset=table),
    )
    datasets = [load_dataset(item.dataset) for item in spec.inputs]
    target = load_dataset(spec.target.dataset)
    fitted, arrays = FittedPipeline.fit_transform(
        spec, datasets, target, {"train": np.arange(30), "test": np.arange(30, 40)}, "classification_binary"
    )
    assert fitted.kinds == ["sequence", "tabular"]
    assert [f.shape for f in arrays["test"].features] == [(10, 25, 2), (10, 1)]
    short = Pipeline(
        inputs=[Input(dataset=SEQUENCES[:39]), Input(dataset=table)], target=Target(column="label", dataset=table)
    )
    with pytest.raises(QCError, match=r"data.inputs\[1\].dataset: 40 samples, but data.inputs\[0\] has 39"):
        validate(short, [load_dataset(item.dataset) for item in short.inputs], target, "classification_binary")
