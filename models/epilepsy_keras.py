"""Epilepsy: binary classification of EEG sequences (178 timesteps x 1 channel) with a Keras Conv1D.

Only fn_build: mlflow_qc's defaults train it (Adam with hp learning_rate, binary cross-entropy,
hp epochs and batch_size, the evaluation split as validation data).
"""

import keras


def fn_build(features_shape, label_shape, **hp):
    filters = hp.get("filters", 8)
    return keras.Sequential(
        [
            keras.Input(shape=features_shape),
            keras.layers.Conv1D(filters, kernel_size=7, strides=2, activation="relu"),
            keras.layers.MaxPooling1D(pool_size=2),
            keras.layers.Conv1D(filters * 2, kernel_size=5, activation="relu"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dropout(hp.get("dropout", 0.2)),
            keras.layers.Dense(label_shape[-1], activation="sigmoid"),
        ]
    )
