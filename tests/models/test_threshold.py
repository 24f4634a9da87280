"""The decision threshold of a binary model: chosen by F1 or Youden's J, used by answers and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_qc.models.metrics import classification_metrics
from mlflow_qc.models.outputs import decode_output, predicted_index
from mlflow_qc.models.threshold import choose_threshold


def scored_sample(seed: int = 0, count: int = 400):
    """Labels (30% positive) and a score that ranks them imperfectly, well away from 0.5."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(count) < 0.3).astype(int)
    score = 1 / (1 + np.exp(-(truth * 1.5 + rng.normal(size=count) - 1.8)))
    return truth, score


def best_by_brute_force(truth, score, objective):
    """The best value of ``objective`` over every cut "score > t" (t between neighbouring scores)."""
    values = np.unique(score)
    cuts = np.r_[values[0] - 1e-9, (values[1:] + values[:-1]) / 2]
    predicted = (score[None, :] > cuts[:, None]).astype(int)  # one row per cut
    tp, fp = (predicted * truth).sum(axis=1), (predicted * (1 - truth)).sum(axis=1)
    return float(np.max(objective(tp, fp, truth.sum() - tp, (1 - truth).sum() - fp)))


def f1_of(tp, fp, fn, tn):
    return 2 * tp / (2 * tp + fp + fn)


def youden_of(tp, fp, fn, tn):
    return tp / (tp + fn) - fp / (fp + tn)


def youden(truth, predicted):
    tn, fp, fn, tp = skm.confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    return youden_of(tp, fp, fn, tn)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_threshold_reaches_the_best_f1_of_any_cut(seed):
    truth, score = scored_sample(seed)
    threshold = choose_threshold("f1", truth, score)
    f1 = skm.f1_score(truth, (score > threshold).astype(int))
    assert f1 == pytest.approx(best_by_brute_force(truth, score, f1_of), abs=1e-12)
    assert f1 > skm.f1_score(truth, (score > 0.5).astype(int))  # the scores sit low: 0.5 misses positives
    assert not np.isin(threshold, score)  # halfway between two scores, never on one


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_youden_threshold_reaches_the_best_j_of_any_cut(seed):
    truth, score = scored_sample(seed)
    threshold = choose_threshold("youden", truth, score)
    assert youden(truth, (score > threshold).astype(int)) == pytest.approx(
        best_by_brute_force(truth, score, youden_of), abs=1e-12
    )


def test_a_number_is_used_as_given_and_no_rule_means_none():
    truth, score = scored_sample()
    assert choose_threshold(0.3, truth, score) == 0.3
    assert choose_threshold(0.3, None, None) == 0.3  # no evaluation split needed
    assert choose_threshold(None, truth, score) is None


def test_one_class_in_the_evaluation_split_keeps_one_half():
    assert choose_threshold("f1", np.zeros(10, dtype=int), np.linspace(0, 1, 10)) == 0.5
    assert choose_threshold("youden", np.ones(10, dtype=int), np.linspace(0, 1, 10)) == 0.5


def test_answers_and_metrics_use_the_threshold_and_probabilities_do_not_change():
    proba = np.array([[0.8, 0.2], [0.65, 0.35], [0.45, 0.55], [0.1, 0.9]])
    truth = np.array([0, 1, 1, 1])
    assert predicted_index(proba).tolist() == [0, 0, 1, 1]
    assert predicted_index(proba, 0.3).tolist() == [0, 1, 1, 1]
    assert predicted_index(np.array([[0.2, 0.5, 0.3]]), 0.1).tolist() == [1]  # multi-class: argmax, no threshold
    default, lowered = classification_metrics(truth, proba), classification_metrics(truth, proba, threshold=0.3)
    assert default["accuracy"] == 0.75 and lowered["accuracy"] == 1.0 and lowered["recall"] == 1.0
    assert default["roc_auc"] == lowered["roc_auc"] and default["loss"] == lowered["loss"]

    class Pipeline:
        classes = ["neg", "pos"]

    frame = decode_output(proba[:, 1:], "classification_binary", Pipeline(), threshold=0.3)
    assert frame["prediction"].tolist() == ["neg", "pos", "pos", "pos"]
    pd.testing.assert_series_equal(frame["probability_pos"], pd.Series(proba[:, 1], name="probability_pos"))
