"""The decision threshold of a binary classifier (``trainer.threshold``).

A model predicts class 1 when P(class 1) > threshold. ``f1`` picks the cut that maximises F1,
``youden`` the one that maximises Youden's J (true positive rate - false positive rate), the name
of a user metric (evaluation.metrics) the cut that gives it its best value (each distinct score
tried, at most MAX_CUTS quantiles), all on the model's evaluation split; a number is used as it is. scikit-learn's curves cut at a score
(class 1 when P >= score); the threshold is put halfway between that score and the next lower
one, so that ">" gives the same answers on the evaluation rows and new rows just below the
cut are not decided by a hair.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from mlflow_qc.models.outputs import BINARY_CUTOFF

MAX_CUTS = 200


def choose_threshold(
    rule: str | float | None, y_index: np.ndarray | None, positive: np.ndarray | None, metric=None, classes=None
) -> float | None:
    """The threshold for ``rule`` on the evaluation labels (0/1) and P(class 1); None without a rule.
    ``metric``: the user metric (models.user_metrics.UserMetric) a rule of its name means, with the
    model's two ``classes`` (it sees the original labels).

    An evaluation split with a single class has no best cut: the threshold stays 0.5.
    """
    if rule is None:
        return None
    if not isinstance(rule, str):
        return float(rule)
    truth = np.asarray(y_index).ravel().astype(np.int64)
    scores = np.asarray(positive, dtype=np.float64).ravel()
    if len(np.unique(truth)) < 2:
        return BINARY_CUTOFF
    if rule == "f1":
        precision, recall, cuts = precision_recall_curve(truth, scores)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no cut
        f1 = np.divide(
            2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
        )
        cut = cuts[int(np.argmax(f1))]
    elif rule == "youden":
        false_positive, true_positive, cuts = roc_curve(truth, scores, drop_intermediate=False)
        cut = cuts[int(np.argmax(true_positive - false_positive))]
    elif metric is not None and rule == metric.name:
        cut = best_cut_by(metric, classes, truth, scores)
    else:
        raise ValueError(f"unknown threshold rule {rule!r}")
    return halfway_below(cut, scores)


def best_cut_by(metric, classes, truth: np.ndarray, scores: np.ndarray) -> float:
    """The score cut ("class 1 when P >= cut") at which ``metric`` is best (its greater_is_better);
    the first such cut from the lowest when several tie."""
    labels = np.asarray(list(classes), dtype=object)
    cuts = np.unique(scores)
    if len(cuts) > MAX_CUTS:
        cuts = np.unique(np.quantile(scores, np.linspace(0, 1, MAX_CUTS)))
    proba = np.c_[1 - scores, scores]
    values = np.array([metric(labels[truth], labels[(scores >= cut).astype(np.int64)], proba) for cut in cuts])
    values = np.where(np.isnan(values), -np.inf if metric.greater_is_better else np.inf, values)
    return float(cuts[int(np.argmax(values) if metric.greater_is_better else np.argmin(values))])


def halfway_below(cut: float, scores: np.ndarray) -> float:
    """The threshold that ">" turns into scikit-learn's "P >= cut"."""
    if not np.isfinite(cut):  # roc_curve's first point: nothing is class 1
        return 1.0
    lower = scores[scores < cut]
    below = float(lower.max()) if len(lower) else 0.0
    return float((cut + below) / 2)
