"""Daily climate of Delhi: a window of past days -> the next days of every column, with a Keras LSTM.

``label_shape`` is (size_shift, columns): the last layer answers that many values, reshaped to it.
Only fn_build: mlflow_qc's defaults train it (Adam with hp learning_rate, mean squared error,
hp epochs and batch_size, the evaluation split as validation data).
"""

import math

import keras


def fn_build(features_shape, label_shape, **hp):
    return keras.Sequential(
        [
            keras.Input(shape=features_shape),
            keras.layers.LSTM(hp.get("units", 16)),
            keras.layers.Dense(math.prod(label_shape)),
            keras.layers.Reshape(label_shape),
        ]
    )
