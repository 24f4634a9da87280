"""The ``qc`` evaluator on models mlflow_qc did not train: only when asked (``any_model``), never uninvited."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, LogisticRegression

pytestmark = pytest.mark.e2e


@pytest.fixture
def tracking(tmp_path, monkeypatch, isolated):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("plain-sklearn")
    return mlflow.MlflowClient()


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 4)), columns=["signal", "noise_a", "noise_b", "noise_c"])


def test_qc_evaluator_on_a_plain_sklearn_classifier(tracking):
    x = frame(500)
    y = np.where(x["signal"] + np.random.default_rng(1).normal(scale=0.3, size=500) > 0, "yes", "no")
    model = LogisticRegression().fit(x[:350], y[:350])
    held_out = x[350:].assign(label=y[350:])
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=x[:2], pip_requirements=["scikit-learn"])
        result = mlflow.models.evaluate(
            info.model_uri,
            held_out,
            targets="label",
            model_type="classifier",
            evaluators=["qc"],
            evaluator_config={"qc": {"any_model": True}},
        )
    proba = model.predict_proba(x[350:])
    assert result.metrics["qc_accuracy"] == pytest.approx(skm.accuracy_score(y[350:], model.predict(x[350:])))
    assert result.metrics["qc_roc_auc"] == pytest.approx(skm.roc_auc_score(y[350:] == "yes", proba[:, 1]))
    assert result.metrics["qc_loss"] == pytest.approx(skm.log_loss(y[350:], proba, labels=model.classes_))
    importance = {k[len("qc_importance_") :]: v for k, v in result.metrics.items() if k.startswith("qc_importance_")}
    assert max(importance, key=importance.get) == "signal"
    assert importance["signal"] > 10 * max(abs(v) for k, v in importance.items() if k != "signal")
    logged = tracking.get_run(run.info.run_id).data.metrics
    assert logged["qc_accuracy"] == result.metrics["qc_accuracy"] and "qc_importance_signal" in logged
    artifacts = {f.path for f in tracking.list_artifacts(run.info.run_id, "qc")}
    assert artifacts == {"qc/report.html", "qc/report.json", "qc/importance.csv", "qc/predictions.parquet"}
    report = result.artifacts["qc_report_data"].content  # read back from the logged qc/report.json
    roc = [
        t
        for s in report["sections"]
        for f in s["figures"]
        for t in f["data"]
        if f["layout"]["title"]["text"].startswith("ROC") and "meta" in t
    ]
    (trace,) = roc
    assert np.trapezoid(trace["y"], trace["x"]) == pytest.approx(result.metrics["qc_roc_auc"], abs=1e-12)
    assert "qc_importance" in result.artifacts and "qc_report" in result.artifacts


def test_qc_evaluator_on_a_plain_sklearn_regressor_beside_the_default_one(tracking):
    x = frame(300, seed=2)
    y = 3 * x["signal"] + np.random.default_rng(3).normal(scale=0.2, size=300)
    model = LinearRegression().fit(x[:200], y[:200])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=x[:2], pip_requirements=["scikit-learn"])
        result = mlflow.models.evaluate(
            info.model_uri,
            x[200:].assign(target=y[200:]),
            targets="target",
            model_type="regressor",
            evaluators=["default", "qc"],
            evaluator_config={"qc": {"permute_count": 2, "seed": 4, "any_model": True}},
        )
    predicted = model.predict(x[200:])
    assert result.metrics["qc_r2"] == pytest.approx(skm.r2_score(y[200:], predicted))
    assert result.metrics["qc_mse"] == pytest.approx(result.metrics["mean_squared_error"])
    importance = {k: v for k, v in result.metrics.items() if k.startswith("qc_importance_")}
    assert max(importance, key=importance.get) == "qc_importance_signal" and len(importance) == 4


def test_qc_evaluator_stays_out_of_someone_else_s_evaluate_unless_asked(tracking):
    x = frame(200, seed=5)
    y = np.where(x["signal"] > 0, "yes", "no")
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=x[:2], pip_requirements=["scikit-learn"])
        with pytest.raises(mlflow.exceptions.MlflowException, match="could not be evaluated by any"):
            mlflow.models.evaluate(
                info.model_uri, x.assign(label=y), targets="label", model_type="classifier", evaluators=["qc"]
            )
    assert not [key for key in tracking.get_run(run.info.run_id).data.metrics if key.startswith("qc_")]
