"""The baseline job's model (``trainer.baseline``): scikit-learn's trivial predictors, whatever
library the recipe uses. A job that cannot beat it has learnt nothing from the features."""

from __future__ import annotations

from mlflow_qc.recipe import Architecture

CLASSIFIER = "sklearn.dummy.DummyClassifier"
REGRESSOR = "sklearn.dummy.DummyRegressor"


def baseline_hyperparameters(analysis_type: str) -> dict:
    """The baseline job's hyperparameters: the majority class, or the mean of the training target."""
    return {"strategy": "mean" if analysis_type == "regression" else "most_frequent"}


def baseline_architecture(analysis_type: str) -> Architecture:
    estimator = REGRESSOR if analysis_type == "regression" else CLASSIFIER
    return Architecture(
        library="sklearn",
        analysis_type=analysis_type,
        estimator=estimator,
        hyperparameters={k: [v] for k, v in baseline_hyperparameters(analysis_type).items()},
    )
