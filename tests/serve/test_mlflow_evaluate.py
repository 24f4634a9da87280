"""MLflow's own default evaluator on qc models: ``mlflow.models.evaluate(model_uri, data, targets=...,
model_type="classifier")`` with labels from ``prediction`` and ROC/PR from ``probability_<class>``."""
from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm

from mlflow_qc.run.session import experiment_id_for
from tests.helpers import cli_in_process, runs_by_level
from tests.serve.serving_helpers import IRIS_MODEL

pytestmark = pytest.mark.e2e

MLFLOW_ARTIFACTS = {"confusion_matrix", "per_class_metrics", "roc_curve_plot", "precision_recall_curve_plot"}


@pytest.mark.parametrize("predictions", [None, "prediction"])
def test_mlflow_s_default_evaluator_on_a_multi_class_qc_model(iris, inside, predictions):
    inside(iris)
    uri = f"models:/{IRIS_MODEL}@champion"
    data = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t")
    answers = mlflow.pyfunc.load_model(uri).predict(data.drop(columns="species"))
    with mlflow.start_run(experiment_id=experiment_id_for("mlflow-evaluate")):
        result = mlflow.models.evaluate(uri, data, targets="species", model_type="classifier", predictions=predictions,
                                        evaluators=["default"])
    truth = data["species"].to_numpy()
    assert result.metrics["accuracy_score"] == pytest.approx(skm.accuracy_score(truth, answers["prediction"]))
    assert result.metrics["f1_score"] == pytest.approx(skm.f1_score(truth, answers["prediction"], average="weighted"))
    classes = sorted(set(truth))
    proba = answers[[f"probability_{c}" for c in classes]].to_numpy()
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, proba, multi_class="ovr", average="weighted"))
    assert result.metrics["log_loss"] == pytest.approx(skm.log_loss(truth, proba, labels=classes))
    assert MLFLOW_ARTIFACTS <= set(result.artifacts)


def test_mlflow_s_default_evaluator_on_a_binary_qc_model_beside_the_qc_one(workspace):
    recipe = workspace / "recipes" / "sonar.yaml"
    recipe.parent.mkdir(exist_ok=True)
    recipe.write_text(yaml.safe_dump({
        "name": "sonar-evaluate",
        "data": {"inputs": [{"dataset": {"path": "../data/sonar.csv"}}], "target": {"column": "object"},
                 "stratifier": {"size_test": 0.25}, "version": "off"},
        "model": {"library": "sklearn", "analysis_type": "classification_binary", "estimator": "sklearn.linear_model.LogisticRegression",
                  "hyperparameters": {"C": [0.3]}},
    }))
    status, _, err = cli_in_process("--quiet", "train", recipe)
    assert status == 0, err[-2000:]
    [model_run] = runs_by_level("sonar-evaluate")["model"]
    uri = model_run.data.tags["qc.model_uri"]
    data = pd.read_csv(workspace / "data" / "sonar.csv")
    answers = mlflow.pyfunc.load_model(uri).predict(data.drop(columns="object"))
    with mlflow.start_run(experiment_id=experiment_id_for("mlflow-evaluate-binary")):
        result = mlflow.models.evaluate(uri, data, targets="object", model_type="classifier")  # every evaluator that applies
    truth = data["object"].to_numpy()
    positive = sorted(set(truth))[-1]  # MLflow's positive label: the last in sorted order
    assert result.metrics["accuracy_score"] == pytest.approx(skm.accuracy_score(truth, answers["prediction"]))
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(truth == positive, answers[f"probability_{positive}"]))
    assert result.metrics["roc_auc"] == pytest.approx(result.metrics["qc_roc_auc"])  # MLflow's and ours agree
    assert result.metrics["accuracy_score"] == pytest.approx(result.metrics["qc_accuracy"])
    assert {"roc_curve_plot", "precision_recall_curve_plot", "qc_report"} <= set(result.artifacts)
    assert np.isfinite(result.metrics["precision_recall_auc"])
