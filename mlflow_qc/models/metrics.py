"""Per-split metrics with AIQC's names and definitions.

classification: accuracy, f1, precision, recall, roc_auc, loss (multi-class: weighted
averages, roc_auc one-vs-rest); regression: r2, mse, explained_variance, loss.
Classification works on class indices and probabilities; regression on the original scale.
"""
from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from mlflow_qc.models.outputs import predicted_index

CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "loss")
REGRESSION_METRICS = ("r2", "mse", "explained_variance", "loss")
FORECASTING_METRICS = ("r2", "mse", "mae", "explained_variance", "loss")


def metric_names(analysis_type: str) -> tuple[str, ...]:
    if analysis_type == "forecasting":
        return FORECASTING_METRICS
    return REGRESSION_METRICS if analysis_type == "regression" else CLASSIFICATION_METRICS


def classification_metrics(y_index: np.ndarray, proba: np.ndarray, loss: float | None = None,
                           threshold: float | None = None) -> dict[str, float]:
    """``threshold``: a binary model's decision threshold (accuracy, f1, precision, recall use it)."""
    y_index = np.asarray(y_index).ravel()
    n_classes = proba.shape[1]
    predicted = predicted_index(proba, threshold)
    binary = n_classes == 2
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        y_index, predicted, average="binary" if binary else "weighted", zero_division=0
    )
    scores = {
        "accuracy": skm.accuracy_score(y_index, predicted),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "roc_auc": _roc_auc(y_index, proba, binary),
        "loss": loss if loss is not None else skm.log_loss(y_index, np.clip(proba, 1e-15, 1), labels=range(n_classes)),
    }
    return {name: float(value) for name, value in scores.items()}


def classification_metric(name: str, y_index: np.ndarray, predicted: np.ndarray, proba: np.ndarray) -> float:
    """One metric of ``classification_metrics`` from given answers (class indices) and probabilities;
    ``loss`` is the log loss. For the thousands of calls of a permutation test."""
    binary = proba.shape[1] == 2
    average = "binary" if binary else "weighted"
    if name == "accuracy":
        return float(np.mean(predicted == y_index))
    if name in ("f1", "precision", "recall"):
        function = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[name]
        return float(function(y_index, predicted, average=average, zero_division=0))
    if name == "roc_auc":
        return float(_roc_auc(y_index, proba, binary))
    if name == "loss":
        return fast_log_loss(y_index, proba)
    raise ValueError(f"unknown classification metric {name!r}; expected one of {CLASSIFICATION_METRICS}")


REGRESSION_FUNCTIONS = {"r2": skm.r2_score, "mse": skm.mean_squared_error, "explained_variance": skm.explained_variance_score,
                        "loss": skm.mean_squared_error, "mae": skm.mean_absolute_error}


def regression_metric(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """One metric of ``regression_metrics`` (``loss`` is the squared error; forecasting's ``mae`` too)."""
    if name not in REGRESSION_FUNCTIONS:
        raise ValueError(f"unknown regression metric {name!r}; expected one of {sorted(REGRESSION_FUNCTIONS)}")
    return float(REGRESSION_FUNCTIONS[name](y_true, y_pred))


def _roc_auc(y_index: np.ndarray, proba: np.ndarray, binary: bool) -> float:
    present = np.unique(y_index)
    if len(present) < 2:
        return math.nan  # undefined with one class in the split
    if binary:
        return skm.roc_auc_score(y_index, proba[:, 1])
    if len(present) < proba.shape[1]:
        # one-vs-rest over the classes present; renormalise so rows still sum to 1
        sub = proba[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-15, None)
        if len(present) == 2:  # scikit-learn scores two classes as binary: one column of scores
            return skm.roc_auc_score(y_index == present[1], sub[:, 1])
        return skm.roc_auc_score(y_index, sub, multi_class="ovr", average="weighted", labels=present)
    return skm.roc_auc_score(y_index, proba, multi_class="ovr", average="weighted", labels=np.arange(proba.shape[1]))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, loss: float | None = None) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    scores = {
        "r2": skm.r2_score(y_true, y_pred),
        "mse": skm.mean_squared_error(y_true, y_pred),
        "explained_variance": skm.explained_variance_score(y_true, y_pred),
        "loss": loss if loss is not None else skm.mean_squared_error(y_true, y_pred),
    }
    return {name: float(value) for name, value in scores.items()}


def fast_log_loss(y_index: np.ndarray, proba: np.ndarray) -> float:
    """scikit-learn's log loss (probabilities clipped to machine precision, no renormalising)
    without its input checks, for the thousands of calls of permutation importance."""
    eps = np.finfo(np.float64).eps
    chosen = proba[np.arange(len(y_index)), y_index]
    return float(-np.mean(np.log(np.clip(chosen, eps, 1 - eps))))


def fast_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error over every output (scikit-learn's uniform average) without input checks."""
    y_true = np.asarray(y_true, dtype=np.float64)
    return float(np.mean((y_true - np.asarray(y_pred, dtype=np.float64).reshape(y_true.shape)) ** 2))


def forecasting_metrics(y_true: np.ndarray, y_pred: np.ndarray, loss: float | None = None) -> dict[str, float]:
    """Forecasts (windows x size_shift x step) on the original scale: every forecast step of every
    column a sample, scores averaged uniformly over the columns; image frames count every pixel
    value as one sample of one column (a pixel on its own is often constant)."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(truth.shape)
    columns = truth.shape[2] if truth.ndim == 3 else 1
    truth, predicted = truth.reshape(-1, columns), predicted.reshape(-1, columns)
    scores = {
        "r2": skm.r2_score(truth, predicted),
        "mse": skm.mean_squared_error(truth, predicted),
        "mae": skm.mean_absolute_error(truth, predicted),
        "explained_variance": skm.explained_variance_score(truth, predicted),
        "loss": loss if loss is not None else skm.mean_squared_error(truth, predicted),
    }
    return {name: float(value) for name, value in scores.items()}
