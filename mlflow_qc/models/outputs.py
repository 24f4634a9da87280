"""The model-output contract: what adapters return and how it becomes answers.

An adapter's ``predict`` gives, for classification, probabilities (n, 1) = P(class 1) for
binary or (n, k) in class-index order for multi-class; for regression values on the encoded
scale of the target. Decoded answers are ``prediction`` (the original class, or the value on
the original scale) plus one ``probability_<class>`` column per class. ``pipeline`` below is a
fitted preprocessing (``classes``, ``class_index``, ``decode_target``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PROBABILITY_PREFIX = "probability_"
BINARY_CUTOFF = 0.5


def probability_columns(classes) -> list[str]:
    return [f"{PROBABILITY_PREFIX}{c}" for c in classes]


def probabilities_by_class(output: np.ndarray) -> np.ndarray:
    """Model output -> one column per class: binary (n, 1) = P(class 1) becomes (n, 2)."""
    output = np.asarray(output, dtype=np.float64)
    if output.ndim == 1:
        output = output[:, None]
    if output.shape[1] == 1:
        return np.hstack([1.0 - output, output])
    return output


def predicted_index(proba: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Binary: P(class 1) > ``threshold`` (the model's decision threshold, 0.5 when it has none);
    multi-class: argmax."""
    if proba.shape[1] == 2:
        return (proba[:, 1] > (BINARY_CUTOFF if threshold is None else threshold)).astype(np.int64)
    return proba.argmax(axis=1)


def label_positions(labels, classes) -> np.ndarray:
    """Positions of decoded labels among ``classes`` (-1 for an unknown label); equal values match,
    and else their text (a parquet file or a request may have turned 1 into "1"). The distinct
    labels are matched once (a job report's labels are 10^5-10^6 rows of a few classes)."""
    if not isinstance(labels, (pd.Series, pd.Index, pd.Categorical)):
        labels = np.asarray(labels, dtype=object).reshape(-1)
    codes, distinct = pd.factorize(labels, use_na_sentinel=False)
    return _distinct_positions(np.asarray(distinct, dtype=object), classes)[codes]


def _distinct_positions(labels: np.ndarray, classes) -> np.ndarray:
    positions = pd.Index(list(classes), dtype=object).get_indexer(labels).astype(np.int64)
    unmatched = positions < 0
    if unmatched.any():
        texts = pd.Index([str(c) for c in classes], dtype=object)
        positions[unmatched] = texts.get_indexer([str(v) for v in labels[unmatched]])
    return positions


def original_scale(values: np.ndarray, pipeline) -> np.ndarray:
    """Regression values on the encoded scale -> the target's original scale (1-D for one column)."""
    decoded = np.asarray(pipeline.decode_target(np.asarray(values, dtype=np.float64)))
    return decoded[:, 0] if decoded.ndim == 2 and decoded.shape[1] == 1 else decoded


def decode_output(output: np.ndarray, analysis_type: str, pipeline, threshold: float | None = None):
    """Classification: the predicted class (original label, binary by ``threshold``) and one
    probability per class; regression: the prediction on the original scale of the target;
    forecasting: the next steps on the original scale, a row per step in the forecast columns
    (images: an array of frames)."""
    if analysis_type == "forecasting":
        forecast = pipeline.decode_target(output)  # windows x size_shift x step
        if forecast.ndim > 3:
            return forecast.reshape(-1, *forecast.shape[2:])
        return pd.DataFrame(forecast.reshape(-1, forecast.shape[-1]), columns=pipeline.forecast_columns)
    if not analysis_type.startswith("classification"):
        decoded = original_scale(output, pipeline)
        if decoded.ndim == 1:
            return pd.DataFrame({"prediction": decoded})
        return pd.DataFrame({f"prediction_{j}": decoded[:, j] for j in range(decoded.shape[1])})
    proba = probabilities_by_class(output)
    classes = np.asarray(pipeline.classes, dtype=object)
    frame = pd.DataFrame({"prediction": classes[predicted_index(proba, threshold)]})
    for j, column in enumerate(probability_columns(pipeline.classes)):
        frame[column] = proba[:, j]
    return frame


def forecast_frame(
    label: np.ndarray, output: np.ndarray, pipeline, starts: np.ndarray, size_window: int
) -> pd.DataFrame:
    """Every forecast step of every window, long: ``row`` (the window's first step), ``horizon``
    (1 .. size_shift), ``step`` (the time step forecast), then per column ``y_true_<c>`` and
    ``prediction_<c>`` on the original scale; for image frames the pixel ``mse`` and ``mae`` instead."""
    truth, forecast = pipeline.decode_target(label), pipeline.decode_target(output)
    count, shift = truth.shape[:2]
    frame = pd.DataFrame(
        {
            "row": np.repeat(np.asarray(starts), shift),
            "horizon": np.tile(np.arange(1, shift + 1), count),
        }
    )
    frame["step"] = frame["row"] + size_window + frame["horizon"] - 1
    if truth.ndim > 3:
        error = (forecast - truth).reshape(count * shift, -1)
        frame["mse"], frame["mae"] = (error**2).mean(axis=1), np.abs(error).mean(axis=1)
        return frame
    for j, column in enumerate(pipeline.forecast_columns):
        frame[f"y_true_{column}"] = truth[:, :, j].ravel()
        frame[f"prediction_{column}"] = forecast[:, :, j].ravel()
    return frame


def decode_truth(label: np.ndarray, analysis_type: str, pipeline) -> np.ndarray:
    """Encoded labels back to original labels / the original scale."""
    if not analysis_type.startswith("classification"):
        return original_scale(label, pipeline)
    return np.asarray(pipeline.classes, dtype=object)[pipeline.class_index(label)]
