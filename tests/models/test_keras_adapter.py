"""Keras adapter: defaults, user functions, determinism, early stopping, save/load."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from adapter_fixtures import (
    ANALYSES,
    OUTPUT_ACTIVATION,
    architecture,
    assert_output_and_history,
    make_data,
    run_python,
    write_module,
)

from mlflow_qc.errors import QCError
from mlflow_qc.models import adapter_for


@pytest.fixture(autouse=True, scope="module")
def _keras():
    """Keras (and TensorFlow, half a minute) imported when these tests run, not when the suite is collected."""
    pytest.importorskip("keras")


MODULE = """
import keras


@keras.saving.register_keras_serializable(package="qc_tests")
class Halve(keras.layers.Layer):
    # A custom layer: loading the saved model needs this module.
    def call(self, inputs):
        return inputs * 0.5


def fn_build(features_shape, label_shape, **hp):
    shapes = features_shape if isinstance(features_shape, list) else [features_shape]
    inputs = [keras.Input(shape=shape) for shape in shapes]
    x = inputs[0] if len(inputs) == 1 else keras.layers.Concatenate()(inputs)
    x = keras.layers.Dense(8, activation="relu")(Halve()(x))
    x = keras.layers.Dropout(0.1)(x)
    out = keras.layers.Dense(label_shape[-1], activation=hp["out"])(x)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out)
"""


@pytest.fixture(scope="module")
def module_path(tmp_path_factory):
    return write_module(tmp_path_factory.mktemp("keras_user"), MODULE)


@pytest.fixture(scope="module")
def fitted(module_path):
    """fit(kind, seed=0, inputs=1, **hp) with results cached across the module's tests."""
    cache = {}

    def fit(kind, seed=0, inputs=1, **hp):
        key = (kind, seed, inputs, repr(sorted(hp.items())))
        if key not in cache:
            train, evaluation = make_data(kind, inputs=inputs)
            n_classes = 3 if kind.startswith("multi") else None
            adapter = adapter_for(architecture("keras", kind, module_path), n_classes=n_classes)
            hyperparameters = {"out": OUTPUT_ACTIVATION[kind], "epochs": 3, "batch_size": 16, **hp}
            cache[key] = adapter, adapter.fit(train, evaluation, hyperparameters, seed), evaluation
        return cache[key]

    return fit


@pytest.mark.parametrize("kind", ANALYSES)
def test_fit_predict_shapes_and_history(fitted, kind):
    adapter, trained, evaluation = fitted(kind)
    output = adapter.predict(trained.model, evaluation.features)
    assert_output_and_history(kind, output, trained.history, epochs=3)
    assert adapter.loss(trained.model, evaluation.label, output, {}) == pytest.approx(
        trained.history["val_loss"][-1], rel=1e-3
    )


def test_multi_input_gets_the_list(fitted):
    adapter, trained, evaluation = fitted("binary", inputs=2)
    assert len(trained.model.inputs) == 2
    assert adapter.predict(trained.model, evaluation.features).shape == (24, 1)


def test_same_seed_same_model_other_seed_differs(fitted):
    first, again, other = fitted("binary", seed=7), fitted("binary", seed=7, repeat=1), fitted("binary", seed=8)
    features = first[2].features
    assert first[1] is not again[1]
    np.testing.assert_array_equal(
        first[0].predict(first[1].model, features), again[0].predict(again[1].model, features)
    )
    assert not np.array_equal(first[0].predict(first[1].model, features), other[0].predict(other[1].model, features))


def test_metric_cutoff_stops_early(fitted):
    cutoffs = [
        {"metric": "val_loss", "cutoff": 100.0, "above_or_below": "below"},
        {"metric": "accuracy", "cutoff": 0.0, "above_or_below": "above"},
    ]
    _, trained, _ = fitted("binary", epochs=20, metric_cutoffs=cutoffs)
    assert len(trained.history["loss"]) == 1


def test_metric_cutoff_callback_for_custom_fn_train(tmp_path):
    source = (
        MODULE
        + """
from mlflow_qc.models import MetricCutoff

def fn_optimize(**hp):
    return keras.optimizers.SGD(learning_rate=hp["lr"])

def fn_lose(**hp):
    return "mean_absolute_error"

def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    model.compile(loss=loser, optimizer=optimizer, metrics=["mae"])
    model.fit(train_features, train_label, epochs=50, verbose=0,
              callbacks=[MetricCutoff({"metric": "loss", "cutoff": 1e6, "above_or_below": "below"})])
    return model

def fn_predict(model, features):
    return model.predict(features, verbose=0) * 0 + 2.0
"""
    )
    path = write_module(tmp_path, source)
    train, evaluation = make_data("regression")
    adapter = adapter_for(architecture("keras", "regression", path))
    trained = adapter.fit(train, evaluation, {"out": None, "lr": 0.01}, 0)
    assert set(trained.history) == {"loss", "mae"} and len(trained.history["loss"]) == 1
    assert type(trained.model.optimizer).__name__ == "SGD"
    output = adapter.predict(trained.model, evaluation.features)
    assert (output == 2.0).all()
    assert adapter.loss(trained.model, evaluation.label, output, {}) == pytest.approx(
        np.abs(evaluation.label - 2).mean(axis=1).mean(), rel=1e-5
    )


def test_user_exception_propagates_unchanged(tmp_path):
    path = write_module(
        tmp_path,
        "def fn_build(features_shape, label_shape, **hp):\n    raise ValueError(f'bad shape {features_shape}')\n",
    )
    train, evaluation = make_data("binary")
    with pytest.raises(ValueError, match=r"bad shape \(4,\)"):
        adapter_for(architecture("keras", "binary", path)).fit(train, evaluation, {}, 0)
    none_train = write_module(
        tmp_path / "b", MODULE + "\ndef fn_train(model, *args, **hp):\n    model.compile(loss='mse')\n"
    )
    with pytest.raises(QCError, match="fn_train: returned None"):
        adapter_for(architecture("keras", "binary", none_train)).fit(train, evaluation, {"out": "sigmoid"}, 0)


def test_saved_model_loads_in_a_fresh_process_without_the_user_module(tmp_path, fitted, module_path):
    adapter, trained, evaluation = fitted("multi_ordinal")
    expected = adapter.predict(trained.model, evaluation.features)
    moved = tmp_path / "user"
    shutil.copytree(module_path.parent, moved)
    adapter.architecture = architecture("keras", "multi_ordinal", moved / module_path.name)
    adapter.save(trained.model, tmp_path / "saved")
    shutil.rmtree(moved)
    np.save(tmp_path / "features.npy", evaluation.features[0])
    run_python(
        f"""
        import sys
        import numpy as np
        from mlflow_qc.models import load_trained
        adapter, model = load_trained({str(tmp_path / "saved")!r})
        np.save({str(tmp_path / "out.npy")!r}, adapter.predict(model, [np.load({str(tmp_path / "features.npy")!r})]))
        assert "torch" not in sys.modules
        """,
        cwd=tmp_path,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)
    assert (tmp_path / "saved" / "model.keras").is_file() and (tmp_path / "saved" / "user_module.py").is_file()


def test_resume_continues_the_default_training_from_its_epoch(module_path):
    """Adaptive search on epochs: a rung's model goes on from the previous rung's (optimizer state kept),
    even after another model was built in between (clear_session)."""
    train, evaluation = make_data("binary")
    adapter = adapter_for(architecture("keras", "binary", module_path))
    hp = {"out": "sigmoid", "batch_size": 16}
    first = adapter.fit(train, evaluation, {**hp, "epochs": 2}, 5)
    before = adapter.predict(first.model, evaluation.features)
    adapter.fit(train, evaluation, {**hp, "epochs": 1}, 6)  # another candidate in between
    resumed = adapter.resume(first, 2, train, evaluation, {**hp, "epochs": 5}, 5)
    assert resumed.resumed_from == 2 and resumed.state is resumed.model is first.model
    assert len(resumed.history["val_loss"]) == 5 and resumed.history["loss"][:2] == first.history["loss"][:2]
    assert not np.array_equal(adapter.predict(resumed.model, evaluation.features), before)


def test_a_user_fn_train_is_never_resumed(tmp_path):
    module = write_module(tmp_path, MODULE + "\n\ndef fn_train(model, *args, **hp):\n    return model\n")
    adapter = adapter_for(architecture("keras", "binary", module))
    train, evaluation = make_data("binary")
    trained = adapter.fit(train, evaluation, {"out": "sigmoid", "epochs": 1}, 0)
    assert trained.state is None
    assert adapter.resume(trained, 1, train, evaluation, {"out": "sigmoid", "epochs": 3}, 0) is None
