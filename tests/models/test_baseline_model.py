"""The baseline job's model: scikit-learn's Dummy predictors through the sklearn adapter, whatever the recipe's library."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_qc.models import adapter_for
from mlflow_qc.models.baseline import baseline_architecture, baseline_hyperparameters
from mlflow_qc.run.plan import Job, baseline_job, job_key
from tests.models.adapter_fixtures import ANALYSIS_TYPE, make_data


@pytest.mark.parametrize("kind", ["binary", "multi_ordinal", "multi_onehot", "regression"])
def test_the_baseline_predicts_the_majority_or_the_mean_of_the_training_rows(kind):
    train, evaluation = make_data(kind)
    analysis_type = ANALYSIS_TYPE[kind]
    adapter = adapter_for(baseline_architecture(analysis_type), n_classes=3 if kind.startswith("multi") else None)
    model = adapter.fit(train, evaluation, baseline_hyperparameters(analysis_type), seed=1).model
    output = adapter.predict(model, evaluation.features)
    if kind == "regression":
        np.testing.assert_allclose(output, np.broadcast_to(train.label.mean(axis=0), output.shape))
        return
    majority = np.bincount(adapter.class_index(train.label)).argmax()
    proba = np.hstack([1 - output, output]) if kind == "binary" else output
    assert (proba.argmax(axis=1) == majority).all() and np.isin(proba, [0.0, 1.0]).all()


def test_the_baseline_job_is_its_own_job_whatever_the_hyperparameters():
    job = baseline_job("classification_binary")
    assert job.hyperparameters == {"strategy": "most_frequent"} and job.index == -1 and job.label == "baseline"
    assert job.key != Job(3, {"strategy": "most_frequent"}).key  # a search job with the same values is another job
    assert baseline_job("regression").hyperparameters == {"strategy": "mean"}
    # the search's jobs keep the keys of trees trained before the baseline existed
    assert Job(0, {"C": 1.0}).key == job_key({"hyperparameters": {"C": 1.0}, "refit": False})
