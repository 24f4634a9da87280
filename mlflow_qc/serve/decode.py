"""Model output -> decoded answers: ``prediction`` (+ ``probability_<class>``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlflow_qc.evaluate.metrics import predicted_index, probabilities_by_class


def probability_columns(classes) -> list[str]:
    return [f"probability_{c}" for c in classes]


def original_scale(values: np.ndarray, pipeline) -> np.ndarray:
    """Regression values on the encoded scale -> the target's original scale (1-D for one column)."""
    decoded = np.asarray(pipeline.decode_target(np.asarray(values, dtype=np.float64)))
    return decoded[:, 0] if decoded.ndim == 2 and decoded.shape[1] == 1 else decoded


def decode_output(output: np.ndarray, analysis_type: str, pipeline) -> pd.DataFrame:
    """Classification: the predicted class (original label) and one probability per class;
    regression: the prediction on the original scale of the target."""
    if analysis_type == "regression":
        decoded = original_scale(output, pipeline)
        if decoded.ndim == 1:
            return pd.DataFrame({"prediction": decoded})
        return pd.DataFrame({f"prediction_{j}": decoded[:, j] for j in range(decoded.shape[1])})
    proba = probabilities_by_class(output)
    classes = np.asarray(pipeline.classes, dtype=object)
    frame = pd.DataFrame({"prediction": classes[predicted_index(proba)]})
    for j, column in enumerate(probability_columns(pipeline.classes)):
        frame[column] = proba[:, j]
    return frame


def decode_truth(label: np.ndarray, analysis_type: str, pipeline) -> np.ndarray:
    """Encoded labels back to original labels / the original scale."""
    if analysis_type == "regression":
        return original_scale(label, pipeline)
    return np.asarray(pipeline.classes, dtype=object)[pipeline.class_index(label)]
