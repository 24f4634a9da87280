"""scikit-learn adapter: ``estimator`` is a dotted class path, hyperparameters its arguments.

- Features: every input flattened per sample and concatenated into one 2-D matrix.
- ``random_state`` is set from the model's seed when the estimator takes it and the user did
  not give it.
- Classification fits on the class index; ``predict`` uses ``predict_proba`` with its
  columns placed by class index (a class absent from training gets probability 0).
  Estimators without ``predict_proba`` (e.g. ``SVC(probability=False)``) give the
  one-hot of ``predict``: probabilities of exactly 0 and 1.
- Regression: single-column labels are raveled; outputs are (n, label width).
- History: ``loss_curve_`` as ``loss`` and ``validation_scores_`` (scored on the
  estimator's internal validation fraction: accuracy or R²) as ``val_accuracy`` /
  ``val_r2`` when the estimator has them (e.g. MLP); else {}.
- Loss: log loss (classification), mean squared error (regression).
- Saved with pickle's C pickler (joblib's own pickler is pure Python, several times slower per
  model); loaded with joblib, which reads these files and the ``joblib.dump`` files of earlier versions.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import log_loss, mean_squared_error

from mlflow_qc.classes import import_dotted
from mlflow_qc.errors import QCError, one_line
from mlflow_qc.models.base import ModelAdapter, TrainedModel, seed_python_numpy
from mlflow_qc.suggest import did_you_mean

MODEL_FILE = "model.joblib"


def estimator_class(dotted: str) -> type:
    cls = import_dotted(dotted)
    if not isinstance(cls, type):
        module = import_dotted(dotted.rpartition(".")[0])  # a package: its classes are the near names
        names = [name for name in dir(module) if isinstance(getattr(module, name), type)] if module is not None else []
        hint = did_you_mean(dotted.rpartition(".")[2], names)
        raise QCError(
            "model.estimator",
            f"'{dotted}' is not an importable class;{hint} expected a dotted path such as sklearn.svm.SVC",
        )
    return cls


def flat_features(features: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(f).reshape(len(f), -1) for f in features], axis=1)


class SklearnAdapter(ModelAdapter):
    library = "sklearn"
    model_file = MODEL_FILE

    @property
    def estimator_class(self) -> type:
        return estimator_class(self.architecture.estimator)

    def check_hyperparameters(self, names) -> None:
        """Every name must be a constructor argument of the estimator."""
        parameters = inspect.signature(self.estimator_class).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        for name in names:
            if name not in parameters:
                raise QCError(
                    f"model.hyperparameters.{name}",
                    f"not an argument of {self.architecture.estimator};{did_you_mean(name, parameters)} "
                    f"expected one of {sorted(parameters)}",
                )

    def check_values(self, grid: dict[str, list]) -> None:
        """scikit-learn's own parameter constraints (``_validate_params``, checked by ``fit``), one value at a time."""
        for name, values in grid.items():
            for value in values:
                try:
                    estimator = self.estimator_class(**{name: value})
                    validate = getattr(estimator, "_validate_params", None)
                    if validate is not None:
                        validate()
                except (TypeError, ValueError) as exc:
                    raise QCError(f"model.hyperparameters.{name}", one_line(exc)) from None

    def fit(self, train, evaluation, hyperparameters: dict, seed: int) -> TrainedModel:
        seed_python_numpy(seed)
        self.check_hyperparameters(hyperparameters)
        arguments = dict(hyperparameters)
        if "random_state" in inspect.signature(self.estimator_class).parameters:
            arguments.setdefault("random_state", seed % 2**32)
        estimator = self.estimator_class(**arguments)
        self.learn_label_shape(train.label)
        estimator.fit(flat_features(train.features), self.fit_target(train.label))
        return TrainedModel(model=estimator, history=self.history(estimator))

    def fit_target(self, label: np.ndarray) -> np.ndarray:
        if self.is_classification:
            return self.class_index(label)
        label = label.reshape(len(label), -1)  # a forecast's steps x columns as outputs
        return label.ravel() if label.shape[1] == 1 else label

    def history(self, estimator) -> dict[str, list[float]]:
        history = {}
        if getattr(estimator, "loss_curve_", None) is not None:
            history["loss"] = [float(v) for v in estimator.loss_curve_]
        if getattr(estimator, "validation_scores_", None) is not None:
            key = "val_accuracy" if self.is_classification else "val_r2"
            history[key] = [float(v) for v in estimator.validation_scores_]
        return history

    def predict(self, model, features: list[np.ndarray]) -> np.ndarray:
        matrix = flat_features(features)
        if not self.is_classification:
            output = np.asarray(model.predict(matrix), dtype=np.float64)
            return self.shaped_output(output.reshape(len(matrix), -1))
        classes = np.asarray(model.classes_).astype(np.int64)
        width = max(self.n_classes or 0, int(classes.max()) + 1)
        probabilities = np.zeros((len(matrix), width))
        if hasattr(model, "predict_proba"):
            probabilities[:, classes] = model.predict_proba(matrix)
        else:
            probabilities[np.arange(len(matrix)), np.asarray(model.predict(matrix)).astype(np.int64)] = 1.0
        return self.shaped_output(probabilities)

    def loss(self, model, label: np.ndarray, output: np.ndarray, hyperparameters: dict) -> float:
        if not self.is_classification:
            return float(mean_squared_error(np.reshape(label, (len(label), -1)), np.reshape(output, (len(output), -1))))
        output = np.asarray(output, dtype=np.float64)
        if self.analysis_type == "classification_binary":
            output = np.hstack([1 - output, output])
        return float(log_loss(self.class_index(label), output, labels=np.arange(output.shape[1])))

    def _save_model(self, model, folder: Path) -> None:
        with open(Path(folder) / MODEL_FILE, "wb") as file:
            pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def load(cls, folder: Path):
        return joblib.load(Path(folder) / MODEL_FILE)
