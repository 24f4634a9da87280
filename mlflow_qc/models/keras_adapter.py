"""Keras 3 adapter and its defaults (imports keras: load it through ``adapter_for``).

Defaults, as in AIQC:
- loss: binary crossentropy; sparse categorical crossentropy for class-index labels
  (n, 1), categorical for one-hot; mean squared error for regression.
- optimizer: Adam, hyperparameter ``learning_rate`` (default 0.001).
- training: ``compile`` with accuracy (classification) or mae (regression), ``fit`` with
  the evaluation split as validation data, hyperparameters ``epochs`` (10),
  ``batch_size`` (32) and ``metric_cutoffs`` (``MetricCutoff``), verbose 0.
- prediction: the model's output (a sigmoid/softmax last layer gives probabilities).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import keras
import numpy as np

from mlflow_qc.models.base import TrainedModel, joined_history, seed_python_numpy, single_or_list
from mlflow_qc.models.cutoffs import cutoffs_met, parse_cutoffs
from mlflow_qc.models.deep import DeepAdapter
from mlflow_qc.models.user_module import import_saved_module

MODEL_FILE = "model.keras"
PREDICT_CHUNK = 4096


class MetricCutoff(keras.callbacks.Callback):
    """Stops ``fit`` after the first epoch that meets every cutoff (see ``cutoffs``)."""

    def __init__(self, metric_cutoffs):
        super().__init__()
        self.metric_cutoffs = parse_cutoffs(metric_cutoffs)

    def on_epoch_end(self, epoch, logs=None):
        if cutoffs_met(self.metric_cutoffs, logs or {}):
            self.model.stop_training = True


def default_loser(analysis_type: str, label: np.ndarray):
    if analysis_type == "classification_binary":
        return keras.losses.BinaryCrossentropy()
    if analysis_type == "classification_multi":
        if label.shape[1] == 1:
            return keras.losses.SparseCategoricalCrossentropy()
        return keras.losses.CategoricalCrossentropy()
    return keras.losses.MeanSquaredError()


def default_optimize(**hp):
    return keras.optimizers.Adam(learning_rate=hp.get("learning_rate", 0.001))


def default_train(
    model,
    loser,
    optimizer,
    train_features,
    train_label,
    eval_features=None,
    eval_label=None,
    *,
    metrics=("accuracy",),
    epochs=10,
    batch_size=32,
    metric_cutoffs=None,
    **_hp,
):
    """The default fn_train; returns the model (its history in ``model.history``)."""
    model.compile(loss=loser, optimizer=optimizer, metrics=list(metrics))
    return fit_epochs(model, train_features, train_label, eval_features, eval_label, epochs, batch_size, metric_cutoffs)


def fit_epochs(
    model, train_features, train_label, eval_features, eval_label, epochs, batch_size, metric_cutoffs, initial_epoch=0
):
    """``fit`` a compiled model from ``initial_epoch`` to ``epochs``, quietly, the cutoffs watched."""
    validation = None if eval_features is None else (eval_features, eval_label)
    callbacks = [MetricCutoff(metric_cutoffs)] if metric_cutoffs else []
    model.fit(
        train_features,
        train_label,
        validation_data=validation,
        epochs=epochs,
        initial_epoch=initial_epoch,
        batch_size=batch_size,
        callbacks=callbacks,
        verbose=0,
    )
    return model


def default_predict(model, features):
    """The model's output in chunks (a direct call is much faster than ``predict`` on small data)."""
    inputs = features if isinstance(features, list) else [features]
    outputs = []
    for start in range(0, max(len(inputs[0]), 1), PREDICT_CHUNK):
        chunk = single_or_list([f[start : start + PREDICT_CHUNK] for f in inputs])
        outputs.append(keras.ops.convert_to_numpy(model(chunk, training=False)))
    return np.concatenate(outputs)


def fit_history(model) -> dict[str, list[float]]:
    """The last ``fit``'s history per epoch."""
    history = getattr(getattr(model, "history", None), "history", None) or {}
    return {k: [float(v) for v in values] for k, values in history.items()}


class KerasAdapter(DeepAdapter):
    library = "keras"
    model_file = MODEL_FILE

    def fit(self, train, evaluation, hyperparameters: dict, seed: int) -> TrainedModel:
        hp = dict(hyperparameters)
        # Fresh layer names and no graph growth across many models; without its gc.collect(), which
        # walks every object of the trainer's process (0.3-0.5 s a model) while refcounting frees the last model.
        keras.backend.clear_session(free_memory=False)
        seed_python_numpy(seed)
        keras.utils.set_random_seed(seed % 2**32)
        model = self.build(train, hp)
        loser = self.loser(train.label, hp)
        fn_optimize = self.functions.get("fn_optimize")
        optimizer = self.returned("fn_optimize", fn_optimize(**hp)) if fn_optimize else default_optimize(**hp)
        eval_features = None if evaluation is None else single_or_list(evaluation.features)
        eval_label = None if evaluation is None else evaluation.label
        fn_train = self.functions.get("fn_train")
        if fn_train is None:
            fn_train = partial(default_train, metrics=["accuracy" if self.is_classification else "mae"])
        model = self.train_with(
            fn_train,
            evaluation,
            model,
            loser,
            optimizer,
            single_or_list(train.features),
            train.label,
            eval_features,
            eval_label,
            **hp,
        )
        model = self.returned("fn_train", model)
        return TrainedModel(model=model, history=fit_history(model), state=model if self.resumable else None)

    def resume(self, previous, done, train, evaluation, hyperparameters, seed):
        """The default training continued: the compiled model keeps its optimizer's state; ``fit`` goes on
        from epoch ``done`` with its own shuffles (seeded from ``seed`` and ``done``)."""
        if previous.state is None or not self.resumable:
            return None
        hp = dict(hyperparameters)
        seed_python_numpy(seed + done)
        keras.utils.set_random_seed((seed + done) % 2**32)
        model = fit_epochs(
            previous.state,
            single_or_list(train.features),
            train.label,
            None if evaluation is None else single_or_list(evaluation.features),
            None if evaluation is None else evaluation.label,
            hp.get("epochs", 10),
            hp.get("batch_size", 32),
            hp.get("metric_cutoffs"),
            initial_epoch=done,
        )
        history = joined_history(previous.history, fit_history(model))
        return TrainedModel(model=model, history=history, state=model, resumed_from=done)

    def predict(self, model, features: list[np.ndarray]) -> np.ndarray:
        fn_predict = self.functions.get("fn_predict", default_predict)
        return self.shaped_output(fn_predict(model, single_or_list(features)))

    def default_loser(self, label: np.ndarray):
        return default_loser(self.analysis_type, label)

    def loss(self, model, label: np.ndarray, output: np.ndarray, hyperparameters: dict) -> float:
        loser = self.loser(label, dict(hyperparameters))
        if isinstance(loser, str):
            loser = keras.losses.get(loser)
        # Loss objects reduce to the batch mean; plain loss functions return one value per sample.
        return float(np.mean(keras.ops.convert_to_numpy(loser(label, output))))

    def _save_library_model(self, model, folder: Path) -> None:
        model.save(folder / MODEL_FILE)

    @classmethod
    def load(cls, folder: Path):
        module = import_saved_module(folder)
        # Custom layers/functions of the user's module, whether registered with Keras or not.
        custom = {}
        if module is not None:
            custom = {
                name: obj
                for name, obj in vars(module).items()
                if callable(obj) and getattr(obj, "__module__", None) == module.__name__
            }
        return keras.models.load_model(Path(folder) / MODEL_FILE, custom_objects=custom, compile=False)
