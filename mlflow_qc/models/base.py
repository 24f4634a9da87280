"""The adapter interface every library implements, and the label/output conventions.

Labels arrive 2-D: binary (n, 1) of 0/1; multi-class (n, 1) class indices or (n, k)
one-hot; regression (n, m). Features are a list of float64 arrays, one per input.
``predict`` returns probabilities for classification — (n, 1) = P(class 1) for binary,
(n, k) in class-index order for multi-class — and the encoded label scale for regression.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mlflow_qc.errors import QCError
from mlflow_qc.preprocess.labels import encoded_class_index

ADAPTER_FILE = "adapter.json"
PROBABILITY_TOLERANCE = 1e-3  # float32 softmax rows sum to 1 within ~1e-6


class ModelContractError(QCError):
    """The model code breaks the output contract (shape, probabilities). Every model of the
    recipe would break it the same way, so the trainer stops at the first."""


@dataclass
class TrainedModel:
    model: Any
    # Per epoch, Keras-style keys (loss, val_loss, accuracy/mae, val_accuracy/val_mae);
    # {} when the library has no epochs.
    history: dict[str, list[float]] = field(default_factory=dict)
    # What ``ModelAdapter.resume`` continues (the model with its optimizer); None: it cannot be continued.
    state: Any = field(default=None, repr=False)
    resumed_from: int | None = None  # the epochs of the model this one continued; None: trained afresh


def joined_history(before: dict[str, list[float]], after: dict[str, list[float]]) -> dict[str, list[float]]:
    """A continued model's history: the epochs of the model it continued, then its own."""
    return {key: [*before.get(key, []), *after.get(key, [])] for key in {**before, **after}}


class ModelAdapter(ABC):
    library: ClassVar[str]
    model_file: ClassVar[str]

    def __init__(self, architecture, n_classes: int | None = None, label_shape=None):
        self.architecture = architecture
        self.analysis_type = architecture.analysis_type
        if self.analysis_type == "classification_binary":
            n_classes = n_classes or 2
        self.n_classes = n_classes
        self.label_shape = None if label_shape is None else tuple(label_shape)  # forecasting: (size_shift, step)

    # --- the interface ---------------------------------------------------------------

    @abstractmethod
    def fit(self, train, evaluation, hyperparameters: dict, seed: int) -> TrainedModel:
        """Seed python/numpy/the library from ``seed``, build, train.

        ``train``/``evaluation`` carry ``.features`` (list of arrays) and ``.label`` (2-D);
        ``evaluation`` may be None.
        """

    def resume(
        self, previous: TrainedModel, done: int, train, evaluation, hyperparameters: dict, seed: int
    ) -> TrainedModel | None:
        """Continue ``previous`` (trained ``done`` epochs, same candidate, data and seed) up to the
        ``epochs`` hyperparameter (adaptive search on epochs); None where this adapter cannot: train afresh."""
        return None

    @abstractmethod
    def predict(self, model, features: list[np.ndarray]) -> np.ndarray: ...

    @abstractmethod
    def loss(self, model, label: np.ndarray, output: np.ndarray, hyperparameters: dict) -> float:
        """The training loss applied to ``label`` vs the ``predict`` output."""

    @abstractmethod
    def _save_model(self, model, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, folder: Path) -> Any:
        """The model saved in ``folder``; needs only mlflow_qc and the library."""

    def check_hyperparameters(self, names) -> None:
        """QCError for a hyperparameter the model cannot take; user modules take any (**hp)."""

    def check_values(self, grid: dict[str, list]) -> None:
        """QCError for a hyperparameter value the library would refuse at fit time, where it can tell."""

    def save(self, model, folder: Path) -> None:
        """The model plus ``adapter.json``, enough for ``load_trained`` to rebuild this adapter."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_model(model, folder)
        meta = {
            "library": self.library,
            "analysis_type": self.analysis_type,
            "n_classes": self.n_classes,
            "estimator": self.architecture.estimator,
            "label_shape": None if self.label_shape is None else list(self.label_shape),
        }
        (folder / ADAPTER_FILE).write_text(json.dumps(meta, indent=2))

    # --- shared conventions ------------------------------------------------------------

    @property
    def is_classification(self) -> bool:
        return self.analysis_type.startswith("classification")

    def learn_label_shape(self, label: np.ndarray) -> None:
        """Remember one sample's label shape: a forecast (size_shift x step) is given back in it."""
        if self.analysis_type == "forecasting":
            self.label_shape = tuple(np.asarray(label).shape[1:])

    def is_ordinal(self, label: np.ndarray) -> bool:
        """Multi-class labels given as one column of class indices."""
        return self.analysis_type == "classification_multi" and label.shape[1] == 1

    def class_count(self, label: np.ndarray) -> int:
        if self.n_classes:
            return self.n_classes
        return int(label.max()) + 1 if self.is_ordinal(label) else label.shape[1]

    def class_index(self, label: np.ndarray) -> np.ndarray:
        """1-D integer class indices from a binary, ordinal or one-hot label."""
        return encoded_class_index(label, self.n_classes)

    def output_shape(self, label: np.ndarray) -> tuple[int, ...]:
        """``label_shape`` for fn_build: the shape of one sample of the model's output.

        Ordinal multi-class labels give ``(n_classes,)``: the model outputs one probability
        per class whatever the label encoding.
        """
        if self.is_ordinal(label):
            return (self.class_count(label),)
        return tuple(label.shape[1:])

    def shaped_output(self, output) -> np.ndarray:
        """A model's output as float64 (n, width), checked against the analysis type."""
        if isinstance(output, tuple):  # AIQC's fn_predict returns (prediction, probability)
            output = output[-1]
        output = np.asarray(output, dtype=np.float64)
        if output.ndim == 1:
            output = output[:, None]
        if self.analysis_type == "classification_binary":
            if output.shape[1] == 2:  # two softmax units: keep P(class 1)
                output = output[:, 1:]
            expected = 1
        elif self.analysis_type == "classification_multi":
            expected = self.n_classes
        elif self.analysis_type == "forecasting" and self.label_shape:
            if output.size != len(output) * int(np.prod(self.label_shape)):
                raise ModelContractError(
                    f"{self.architecture.module or self.architecture.estimator}",
                    f"the model outputs {output.size // max(len(output), 1)} values per sample; expected "
                    f"{int(np.prod(self.label_shape))}: the next size_shift steps {self.label_shape}",
                )
            return output.reshape(len(output), *self.label_shape)
        else:
            return output
        if expected is not None and output.shape[1:] != (expected,):
            raise ModelContractError(
                f"{self.architecture.module or self.architecture.estimator}",
                f"the model outputs shape {output.shape[1:]} per sample; expected ({expected},): "
                "one probability per class (sigmoid/softmax last layer)",
            )
        self._check_probabilities(output)
        return output

    def _check_probabilities(self, output: np.ndarray) -> None:
        """Logits (the PyTorch idiom beside CrossEntropyLoss) would make every metric wrong or fail."""
        rows = output[np.isfinite(output).all(axis=1)]  # NaN: a diverged model, that model's own failure
        if not len(rows):
            return
        low, high = float(rows.min()), float(rows.max())
        if low < -PROBABILITY_TOLERANCE or high > 1 + PROBABILITY_TOLERANCE:
            found = f"values from {low:.3g} to {high:.3g}"
        elif (
            self.analysis_type == "classification_multi" and np.abs(rows.sum(axis=1) - 1).max() > PROBABILITY_TOLERANCE
        ):
            found = f"rows summing to {float(rows.sum(axis=1)[np.abs(rows.sum(axis=1) - 1).argmax()]):.3g}"
        else:
            return
        last = "softmax" if self.analysis_type == "classification_multi" else "sigmoid"
        raise ModelContractError(
            f"{self.architecture.module or self.architecture.estimator}",
            f"the model's output is not a probability per class ({found}); expected fn_build to end with a {last} "
            f"layer, or an fn_predict that applies {last} to the model's logits",
        )


def features_shape(features: list[np.ndarray]):
    """``features_shape`` for fn_build: one sample's shape, a list of them for multi-input."""
    shapes = [tuple(f.shape[1:]) for f in features]
    return shapes[0] if len(shapes) == 1 else shapes


def single_or_list(items: list):
    """Single-input models get the array itself; multi-input models the list."""
    return items[0] if len(items) == 1 else list(items)


def seed_python_numpy(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
