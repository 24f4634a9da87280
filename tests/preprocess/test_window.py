"""Windows of a table's rows: features and shifted labels aligned with the raw steps, encoders and
interpolation fit on the training windows' time steps only, forecasts inverted to the original scale."""

import numpy as np
import pandas as pd
import pytest

from mlflow_qc.data.dataset import load_dataset
from mlflow_qc.errors import QCError
from mlflow_qc.preprocess import FittedPipeline
from mlflow_qc.preprocess.window import covered_steps
from mlflow_qc.recipe import Input, Pipeline, Stratifier
from mlflow_qc.split import make_splits

RNG = np.random.default_rng(3)
SERIES = pd.DataFrame({"temp": 20 + np.cumsum(RNG.normal(0, 1, 120)), "wind": RNG.gamma(2.0, 2.0, 120)})
WINDOW = {"size_window": 6, "size_shift": 2}


def windowed(frame=SERIES, analysis_type="forecasting", **input_fields):
    spec = Pipeline(
        inputs=[Input(dataset=frame, window=WINDOW, **input_fields)],
        stratifier=Stratifier(order="time", size_test=0.2, fold_count=2),
    )
    splits = make_splits(len(frame), None, spec.stratifier, 0, window=(6, 2))
    datasets = [load_dataset(spec.inputs[0].dataset)]
    return spec, datasets, splits


def test_each_context_is_fit_on_its_training_windows_steps_alone():
    spec, datasets, splits = windowed(encoders=[{"sklearn": "StandardScaler"}])
    for context, rows in splits.contexts().items():
        fitted, arrays = FittedPipeline.fit_transform(spec, datasets, None, rows, "forecasting")
        scaler = fitted.inputs[0].inner.encoders[0].fitted[0]
        alone = SERIES.iloc[covered_steps(rows["train"], 8)]
        np.testing.assert_allclose(scaler.mean_, alone.mean().to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(scaler.scale_, alone.std(ddof=0).to_numpy(), rtol=1e-12)
        assert max(covered_steps(rows["train"], 8)) < min(covered_steps(rows["fold_validation"], 8))
        train = arrays["train"]
        assert train.features[0].shape == (len(rows["train"]), 6, 2) and train.label.shape == (len(rows["train"]), 2, 2)
        first = int(rows["train"][0])
        expected = (SERIES.iloc[first : first + 6].to_numpy() - scaler.mean_) / scaler.scale_
        np.testing.assert_allclose(train.features[0][0], expected, rtol=1e-10)
        np.testing.assert_allclose(
            fitted.decode_target(train.label[:1])[0], SERIES.iloc[first + 6 : first + 8].to_numpy(), rtol=1e-10
        )


def test_a_gap_at_the_end_of_training_is_not_filled_from_later_steps():
    gappy = SERIES.copy()
    spec, datasets, splits = windowed(gappy)
    rows = splits.contexts()["fold_0"]
    last = int(max(covered_steps(rows["train"], 8)))
    gappy.loc[last, "temp"] = np.nan
    spec, datasets, _ = windowed(gappy, interpolaters=[{"method": "linear"}])
    fitted, arrays = FittedPipeline.fit_transform(spec, datasets, None, rows, "forecasting")
    window = int(np.flatnonzero(rows["train"] + 7 == last)[0])  # the window whose last label step is the gap
    assert arrays["train"].label[window, -1, 0] == pytest.approx(gappy.loc[last - 1, "temp"])  # carried from the past


def test_a_served_window_is_one_sample_of_the_training_features():
    spec, datasets, splits = windowed(encoders=[{"sklearn": "RobustScaler"}])
    rows = splits.contexts()["fold_1"]
    fitted, arrays = FittedPipeline.fit_transform(spec, datasets, None, rows, "forecasting")
    start = int(rows["test"][0])
    [one] = fitted.transform([SERIES.iloc[start : start + 6]])
    np.testing.assert_allclose(one, arrays["test"].features[0][:1])
    with pytest.raises(QCError, match="5 rows; expected 6 rows: one window of size_window time steps"):
        fitted.transform([SERIES.iloc[start : start + 5]])


def test_a_forecast_needs_invertible_encoders_and_no_target():
    spec, datasets, splits = windowed(encoders=[{"sklearn": "OneHotEncoder", "columns": ["wind"]}])
    rows = splits.contexts()["fold_0"]
    with pytest.raises(QCError, match=r"data.inputs\[0\].encoders\[0\]: OneHotEncoder cannot be inverted"):
        FittedPipeline.fit_transform(spec, datasets, None, rows, "forecasting")
    plain = Pipeline(inputs=[Input(dataset=SERIES)])
    with pytest.raises(QCError, match="model.analysis_type: forecasting learns the steps that follow a window"):
        FittedPipeline.fit_transform(
            plain, [load_dataset(plain.inputs[0].dataset)], None, {"train": np.arange(10)}, "forecasting"
        )
