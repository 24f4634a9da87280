"""Any classifier or regressor under ``mlflow.models.evaluate`` as probabilities or values.

Probabilities come, in this order, from the raw model's ``predict_proba`` (e.g. a scikit-learn
flavor, whose ``classes_`` give the class order), from ``probability_<class>`` columns of the
pyfunc output (mlflow_qc's own models), or else from the one-hot of the predicted labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from mlflow_qc.models.outputs import PROBABILITY_PREFIX


def _raw_model(model):
    try:
        return model.get_raw_model()
    except Exception:  # pyfunc flavors without a raw model raise differently
        return None


def _as_frame(output) -> pd.DataFrame | None:
    return output if isinstance(output, pd.DataFrame) else None


@dataclass
class EvaluatedModel:
    """``output(features)``: (n, classes) probabilities or (n,) values; ``classes`` in that order."""

    output: Callable[[pd.DataFrame], np.ndarray]
    classes: list | None

    @classmethod
    def classifier(cls, model, features: pd.DataFrame, labels: np.ndarray) -> "EvaluatedModel":
        raw = _raw_model(model)
        if raw is not None and hasattr(raw, "predict_proba") and hasattr(raw, "classes_"):
            return cls(lambda frame: np.asarray(raw.predict_proba(frame), dtype=np.float64), list(raw.classes_))
        sample = _as_frame(model.predict(features.iloc[:1]))
        if sample is not None and any(str(c).startswith(PROBABILITY_PREFIX) for c in sample.columns):
            columns = [c for c in sample.columns if str(c).startswith(PROBABILITY_PREFIX)]
            classes = [str(c)[len(PROBABILITY_PREFIX) :] for c in columns]
            return cls(lambda frame: model.predict(frame)[columns].to_numpy(dtype=np.float64), classes)
        classes = sorted(set(np.asarray(labels).tolist()) | set(_labels(model.predict(features)).tolist()), key=str)
        return cls(lambda frame: one_hot(_labels(model.predict(frame)), classes), classes)

    @classmethod
    def regressor(cls, model) -> "EvaluatedModel":
        def values(frame):
            return _labels(model.predict(frame)).astype(np.float64).reshape(len(frame))

        return cls(values, None)

    @classmethod
    def from_predictions(cls, predictions, labels, classification: bool) -> "EvaluatedModel":
        """Static predictions (no model): hard labels for classifiers; no importance possible."""
        predictions = _labels(predictions)
        if not classification:
            values = predictions.astype(np.float64)
            return cls(lambda frame: values, None)
        classes = sorted(set(np.asarray(labels).tolist()) | set(predictions.tolist()), key=str)
        matrix = one_hot(predictions, classes)
        return cls(lambda frame: matrix, classes)


def _labels(output) -> np.ndarray:
    if isinstance(output, pd.DataFrame):
        output = output["prediction"] if "prediction" in output.columns else output.iloc[:, 0]
    return np.asarray(output).reshape(-1)


def one_hot(labels: np.ndarray, classes: list) -> np.ndarray:
    position = {str(c): i for i, c in enumerate(classes)}
    index = np.array([position.get(str(v), -1) for v in labels])
    matrix = np.zeros((len(labels), len(classes)))
    known = index >= 0
    matrix[np.flatnonzero(known), index[known]] = 1.0
    return matrix
