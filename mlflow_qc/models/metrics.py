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

CLASSIFICATION_METRICS = (
    "accuracy",
    "f1",
    "precision",
    "recall",
    "roc_auc",
    "loss",
    "balanced_accuracy",
    "mcc",
    "average_precision",
)
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


LABEL_METRICS = (
    "accuracy",
    "f1",
    "precision",
    "recall",
    "balanced_accuracy",
    "mcc",
    "f1_macro",
    "precision_macro",
    "recall_macro",
)


def _confusion(y_index: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """k x k counts (rows: the answers, columns: the predictions) of the pairs whose both classes are in range."""
    y, predicted = np.asarray(y_index, dtype=np.int64).ravel(), np.asarray(predicted, dtype=np.int64).ravel()
    kept = (y >= 0) & (y < k) & (predicted >= 0) & (predicted < k)
    return np.bincount(y[kept] * k + predicted[kept], minlength=k * k).reshape(k, k).astype(np.float64)


def _per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall and f1 of every class from a confusion matrix, 0 where undefined (zero_division=0)."""
    hits, support, answered = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)

    def ratio(top, bottom):
        return np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)

    return {
        "precision": ratio(hits, answered),
        "recall": ratio(hits, support),
        "f1": ratio(2 * hits, support + answered),
    }


def label_metrics(y_index: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    """The metrics of predicted labels from one confusion matrix: scikit-learn's ``accuracy_score``,
    ``precision/recall/f1_score`` (binary: of class 1; else weighted, and macro over the classes in
    the labels or the answers), ``balanced_accuracy_score`` (mean recall over the classes present)
    and ``matthews_corrcoef``, all with ``zero_division=0``. Their input checks would cost more than
    the arithmetic on every split of every model (tests/evaluate/test_metrics.py holds them equal)."""
    k = n_classes
    matrix = _confusion(y_index, predicted, k)
    hits, support, answered = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    n = support.sum()
    per_class = _per_class_scores(matrix)
    scores = {"accuracy": hits.sum() / n if n else 0.0}
    if k == 2:
        scores.update({name: values[1] for name, values in per_class.items()})
    else:
        seen = (support + answered) > 0
        scores.update({name: float(values @ support / n) if n else 0.0 for name, values in per_class.items()})
        scores.update(
            {f"{name}_macro": float(values[seen].mean()) if seen.any() else 0.0 for name, values in per_class.items()}
        )
    present = support > 0
    scores["balanced_accuracy"] = float(per_class["recall"][present].mean()) if present.any() else 0.0
    covariance = hits.sum() * n - support @ answered
    spread = (n * n - answered @ answered) * (n * n - support @ support)
    scores["mcc"] = float(covariance / np.sqrt(spread)) if spread > 0 else 0.0
    return {name: float(value) for name, value in scores.items()}


def _average_precision(y: np.ndarray, proba: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return math.nan  # undefined with one class in the split
    if proba.shape[1] == 2:
        return skm.average_precision_score(y, proba[:, 1])
    return skm.average_precision_score(np.eye(proba.shape[1])[y], proba, average="weighted")


def probability_metrics(y_index: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """roc_auc, average_precision and (binary) brier: scikit-learn's functions of the probabilities."""
    binary = proba.shape[1] == 2
    scores = {"roc_auc": _roc_auc(y_index, proba, binary), "average_precision": _average_precision(y_index, proba)}
    if binary:
        scores["brier"] = skm.brier_score_loss(y_index, proba[:, 1], pos_label=1)
    return {name: float(value) for name, value in scores.items()}


def classification_metrics(
    y_index: np.ndarray, proba: np.ndarray, loss: float | None = None, threshold: float | None = None
) -> dict[str, float]:
    """``threshold``: a binary model's decision threshold (the metrics of predicted labels use it);
    ``loss``: the model's own loss (else scikit-learn's log loss)."""
    y_index = np.asarray(y_index).ravel()
    names = metric_names("classification_binary" if proba.shape[1] == 2 else "classification_multi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # a class absent from a small split
        scores = {
            **label_metrics(y_index, predicted_index(proba, threshold), proba.shape[1]),
            **probability_metrics(y_index, proba),
        }
        scores["loss"] = (
            loss if loss is not None else skm.log_loss(y_index, np.clip(proba, 1e-15, 1), labels=range(proba.shape[1]))
        )
    return {name: float(scores[name]) for name in names}


def classification_metric(name: str, y_index: np.ndarray, predicted: np.ndarray, proba: np.ndarray) -> float:
    """One metric of ``classification_metrics`` from given answers (class indices) and probabilities;
    ``loss`` is the log loss. For the thousands of calls of a permutation test."""
    names = metric_names("classification_binary" if proba.shape[1] == 2 else "classification_multi")
    if name not in names:
        raise ValueError(f"unknown classification metric {name!r}; expected one of {names}")
    if name in LABEL_METRICS:
        return label_metrics(y_index, predicted, proba.shape[1])[name]
    if name == "loss":
        return fast_log_loss(y_index, proba)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return probability_metrics(y_index, proba)[name]


REGRESSION_FUNCTIONS = {
    "r2": skm.r2_score,
    "mse": skm.mean_squared_error,
    "explained_variance": skm.explained_variance_score,
    "loss": skm.mean_squared_error,
    "mae": skm.mean_absolute_error,
    "rmse": skm.root_mean_squared_error,
}


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
    scores = {
        name: float(function(y_true, y_pred)) for name, function in REGRESSION_FUNCTIONS.items() if name != "loss"
    }
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
    """class, support, precision, recall, f1 of every class: scikit-learn's ``precision_recall_fscore_support``
    with ``labels`` all classes, ``average=None`` and ``zero_division=0``, from one confusion matrix as
    ``label_metrics`` (called for every split of every model; tests/evaluate/test_metrics.py holds them equal).
    A class the split lacks has support 0 and zeros."""
    matrix = _confusion(y_index, predicted, len(classes))
    scores = _per_class_scores(matrix)
    return {
        "class": list(classes),
        "support": matrix.sum(axis=1).astype(np.int64).tolist(),
        **{name: values.tolist() for name, values in scores.items()},
    }
