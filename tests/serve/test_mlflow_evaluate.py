"""``mlflow.models.evaluate`` on qc models through MLflow's public routes: the ``qc`` evaluator takes a qc model
as it is; MLflow's default evaluator takes its answers as a static dataset (``predictions="prediction"``)."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlflow_qc.run.session import experiment_id_for
from tests.serve.serving_helpers import IRIS_MODEL

pytestmark = pytest.mark.e2e


def test_mlflow_s_default_evaluator_and_the_qc_one_on_a_qc_model(iris, inside):
    inside(iris)
    uri = f"models:/{IRIS_MODEL}@champion"
    data = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t")
    answers = mlflow.pyfunc.load_model(uri).predict(data.drop(columns="species"))
    truth = data["species"].to_numpy()
    with mlflow.start_run(experiment_id=experiment_id_for("mlflow-evaluate")):
        mlflow_s = mlflow.models.evaluate(
            data=data.assign(prediction=answers["prediction"]),
            targets="species",
            predictions="prediction",
            model_type="classifier",
            evaluators=["default"],
        )
        ours = mlflow.models.evaluate(
            uri,
            data,
            targets="species",
            model_type="classifier",
            evaluators=["qc"],
            evaluator_config={"qc": {"permute_count": 0}},
        )
    assert mlflow_s.metrics["accuracy_score"] == pytest.approx(skm.accuracy_score(truth, answers["prediction"]))
    assert mlflow_s.metrics["f1_score"] == pytest.approx(skm.f1_score(truth, answers["prediction"], average="weighted"))
    assert ours.metrics["qc_accuracy"] == pytest.approx(mlflow_s.metrics["accuracy_score"])
    classes = sorted(set(truth))
    proba = answers[[f"probability_{c}" for c in classes]].to_numpy()
    assert ours.metrics["qc_roc_auc"] == pytest.approx(
        skm.roc_auc_score(truth, proba, multi_class="ovr", average="weighted")
    )
    assert {"confusion_matrix", "per_class_metrics"} <= set(mlflow_s.artifacts) and "qc_report" in ours.artifacts
