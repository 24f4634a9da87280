"""Sonar (rock or mine): binary classification of tabular data with Keras.

In the style of AIQC's tf_bin_tab: dense layers with dropout and a sigmoid output.
Hyperparameters: neuron_count, dropout (0.3), learning_rate and epochs (the defaults'
fn_optimize reads learning_rate), batch_size (16).
"""

import keras

from mlflow_qc.models import MetricCutoff


def fn_build(features_shape, label_shape, **hp):
    model = keras.Sequential([keras.Input(shape=features_shape)])
    for _ in range(2):
        model.add(keras.layers.Dense(hp["neuron_count"], activation="relu", kernel_initializer="he_uniform"))
        model.add(keras.layers.Dropout(hp.get("dropout", 0.3)))
    model.add(keras.layers.Dense(label_shape[-1], activation="sigmoid"))
    return model


def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    # Stop once both splits are accurate enough: more epochs would only memorise.
    stop = MetricCutoff(
        [
            {"metric": "accuracy", "cutoff": 0.95, "above_or_below": "above"},
            {"metric": "val_accuracy", "cutoff": 0.9, "above_or_below": "above"},
        ]
    )
    model.compile(loss=loser, optimizer=optimizer, metrics=["accuracy"])
    model.fit(
        train_features,
        train_label,
        validation_data=(eval_features, eval_label),
        epochs=hp["epochs"],
        batch_size=hp.get("batch_size", 16),
        callbacks=[stop],
        verbose=0,
    )
    return model
