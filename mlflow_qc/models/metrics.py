"""Per-split metrics with AIQC's names first (README, "Metrics").

classification: accuracy, f1, precision, recall, roc_auc, loss, balanced_accuracy, mcc,
average_precision (multi-class: weighted averages, roc_auc and average_precision one-vs-rest),
binary also brier, multi-class also f1_macro, precision_macro, recall_macro; regression: r2, mse,
explained_variance, loss, mae, rmse; forecasting as regression. Classification works on class
indices (the metrics of predicted labels on the thresholded prediction) and probabilities;
regression on the original scale. Each metric is scikit-learn's function of the same name.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from mlflow_qc.models.outputs import predicted_index

CLASSIFICATION_METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc", "loss",
                          "balanced_accuracy", "mcc", "average_precision")
BINARY_METRICS = (*CLASSIFICATION_METRICS, "brier")
MULTI_METRICS = (*CLASSIFICATION_METRICS, "f1_macro", "precision_macro", "recall_macro")
REGRESSION_METRICS = ("r2", "mse", "explained_variance", "loss", "mae", "rmse")
FORECASTING_METRICS = REGRESSION_METRICS
BUILT_IN_METRICS = frozenset(BINARY_METRICS + MULTI_METRICS + REGRESSION_METRICS)


def metric_names(analysis_type: str) -> tuple[str, ...]:
    if analysis_type == "classification_binary":
        return BINARY_METRICS
    if analysis_type == "classification_multi":
        return MULTI_METRICS
    return REGRESSION_METRICS


def _labelled(function, average: str):
    return lambda y, predicted, proba: function(y, predicted, average=average, zero_division=0)


def _average(binary: bool) -> str:
    return "binary" if binary else "weighted"


def _two_classes(function):
    """``function`` of the labels and probabilities; NaN on a split with one class (undefined)."""
    def score(y, predicted, proba):
        return function(y, proba) if len(np.unique(y)) > 1 else math.nan
    return score


def _average_precision(y: np.ndarray, proba: np.ndarray) -> float:
    if proba.shape[1] == 2:
        return skm.average_precision_score(y, proba[:, 1])
    return skm.average_precision_score(np.eye(proba.shape[1])[y], proba, average="weighted")


def _brier(y: np.ndarray, proba: np.ndarray) -> float:
    return skm.brier_score_loss(y, proba[:, 1], pos_label=1)


def classification_functions(binary: bool) -> dict:
    """name -> fn(class indices, predicted class indices, probabilities) of every classification metric."""
    average = _average(binary)
    functions = {
        "accuracy": lambda y, predicted, proba: skm.accuracy_score(y, predicted),
        "f1": _labelled(skm.f1_score, average),
        "precision": _labelled(skm.precision_score, average),
        "recall": _labelled(skm.recall_score, average),
        "roc_auc": lambda y, predicted, proba: _roc_auc(y, proba, binary),
        "loss": lambda y, predicted, proba: fast_log_loss(y, proba),
        "balanced_accuracy": lambda y, predicted, proba: skm.balanced_accuracy_score(y, predicted),
        "mcc": lambda y, predicted, proba: skm.matthews_corrcoef(y, predicted),
        "average_precision": _two_classes(_average_precision),
    }
    if binary:
        functions["brier"] = lambda y, predicted, proba: _brier(y, proba)
    else:
        functions.update({f"{name}_macro": _labelled(function, "macro") for name, function in
                          (("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score))})
    return functions


def classification_metrics(y_index: np.ndarray, proba: np.ndarray, loss: float | None = None,
                           threshold: float | None = None) -> dict[str, float]:
    """``threshold``: a binary model's decision threshold (the metrics of predicted labels use it);
    ``loss``: the model's own loss (else the log loss). Precision, recall and f1 of one averaging
    come from one scikit-learn call (the same numbers as its three functions)."""
    y_index = np.asarray(y_index).ravel()
    binary = proba.shape[1] == 2
    predicted = predicted_index(proba, threshold)
    functions = classification_functions(binary)
    averages = {"": _average(binary)} if binary else {"": "weighted", "_macro": "macro"}
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # a class absent from a small split
        for suffix, average in averages.items():
            precision, recall, f1, _ = skm.precision_recall_fscore_support(y_index, predicted, average=average, zero_division=0)
            scores.update({f"precision{suffix}": precision, f"recall{suffix}": recall, f"f1{suffix}": f1})
        for name, function in functions.items():
            if name == "loss":
                scores[name] = loss if loss is not None else skm.log_loss(y_index, np.clip(proba, 1e-15, 1), labels=range(proba.shape[1]))
            elif name not in scores:
                scores[name] = function(y_index, predicted, proba)
    return {name: float(scores[name]) for name in functions}


def classification_metric(name: str, y_index: np.ndarray, predicted: np.ndarray, proba: np.ndarray) -> float:
    """One metric of ``classification_metrics`` from given answers (class indices) and probabilities;
    ``loss`` is the log loss. For the thousands of calls of a permutation test."""
    functions = classification_functions(proba.shape[1] == 2)
    if name not in functions:
        raise ValueError(f"unknown classification metric {name!r}; expected one of {sorted(functions)}")
    if name == "accuracy":
        return float(np.mean(predicted == y_index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(functions[name](y_index, predicted, proba))


REGRESSION_FUNCTIONS = {"r2": skm.r2_score, "mse": skm.mean_squared_error, "explained_variance": skm.explained_variance_score,
                        "loss": skm.mean_squared_error, "mae": skm.mean_absolute_error, "rmse": skm.root_mean_squared_error}


def regression_metric(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """One metric of ``regression_metrics`` (``loss`` is the squared error)."""
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


def _regression_scores(y_true: np.ndarray, y_pred: np.ndarray, loss: float | None) -> dict[str, float]:
    scores = {name: float(function(y_true, y_pred)) for name, function in REGRESSION_FUNCTIONS.items() if name != "loss"}
    scores["loss"] = float(loss) if loss is not None else scores["mse"]
    return {name: scores[name] for name in REGRESSION_METRICS}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, loss: float | None = None) -> dict[str, float]:
    return _regression_scores(np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64), loss)


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


def forecast_columns(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forecasts (windows x size_shift x step) as (samples, columns): every forecast step of every
    column a sample; image frames count every pixel value as one sample of one column (a pixel on
    its own is often constant)."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64).reshape(truth.shape)
    columns = truth.shape[2] if truth.ndim == 3 else 1
    return truth.reshape(-1, columns), predicted.reshape(-1, columns)


def forecasting_metrics(y_true: np.ndarray, y_pred: np.ndarray, loss: float | None = None) -> dict[str, float]:
    """Forecasts on the original scale, scores averaged uniformly over the columns (``forecast_columns``)."""
    return _regression_scores(*forecast_columns(y_true, y_pred), loss)


def per_class_table(y_index: np.ndarray, predicted: np.ndarray, classes) -> dict[str, list]:
    """class, support, precision, recall, f1 of every class (scikit-learn's ``average=None``); a class
    the split lacks has support 0 and zeros."""
    positions = np.arange(len(classes))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        np.asarray(y_index).ravel(), predicted, labels=positions, average=None, zero_division=0)
    return {"class": list(classes), "support": support.tolist(), "precision": precision.tolist(),
            "recall": recall.tolist(), "f1": f1.tolist()}
