"""The ``qc`` evaluator: ``mlflow.models.evaluate(model, data, targets=..., model_type=...,
evaluators=["qc"])`` adds mlflow_qc's metrics, permutation importance and report to any
classifier or regressor.

Logged on the evaluation run: metrics ``qc_<metric>`` (as in training: accuracy, f1, precision,
recall, roc_auc, loss | r2, mse, explained_variance, loss) and ``qc_importance_<column>``;
artifacts ``qc/predictions.parquet``, ``qc/importance.csv``, ``qc/report.html``,
``qc/report.json``. Importance permutes the raw columns of the evaluation data.

``evaluator_config``: ``permute_count`` (default 3; 0 = no importance), ``seed`` (0),
``metric_prefix`` ("qc_"), ``split`` (the name the report gives the data, "evaluation"),
``any_model`` (False).

MLflow hands every registered evaluator to an ``evaluate`` that names none, and tells an evaluator's
``can_evaluate`` only the model type, so this evaluator decides in ``evaluate``: it evaluates a qc
model (served by mlflow_qc's loader) and, only with ``any_model: True``, any other model or static
predictions; otherwise it returns nothing and the call is MLflow's alone (README: "Evaluation in the MLflow UI").
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.models.evaluation.base import EvaluationResult, ModelEvaluator
from mlflow.tracking import MlflowClient

from mlflow_qc.evaluate.evaluated_model import EvaluatedModel
from mlflow_qc.evaluate.importance import ORIGINAL, column_groups, importance_metrics, permutation_importance
from mlflow_qc.evaluate.job_report import EvaluationData, evaluation_report
from mlflow_qc.models.metrics import classification_metrics, fast_log_loss, fast_squared_error, regression_metrics
from mlflow_qc.models.outputs import label_positions, predicted_index, probability_columns

MODEL_TYPES = ("classifier", "regressor")
DEFAULTS = {"permute_count": 3, "seed": 0, "metric_prefix": "qc_", "split": "evaluation", "any_model": False}
QC_LOADERS = ("qc_loader", "mlflow_qc.serve.pyfunc")  # the MLmodel loader_module of qc models (now and before)


def is_qc_model(model) -> bool:
    """A pyfunc model that mlflow_qc trained (read from its MLmodel: public metadata, nothing loaded)."""
    metadata = getattr(model, "metadata", None)
    flavor = (getattr(metadata, "flavors", None) or {}).get("python_function", {})
    return flavor.get("loader_module") in QC_LOADERS


def _features(dataset) -> pd.DataFrame:
    data = dataset.features_data
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    return pd.DataFrame(np.asarray(data), columns=list(dataset.feature_names))


def _importance(scored: EvaluatedModel, loss, features: pd.DataFrame, permute_count: int, seed: int) -> pd.DataFrame:
    """Permutation importance over the raw columns, predicted in stacked batches."""
    columns, dtypes = list(features.columns), features.dtypes.to_dict()
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in dtypes.values())
    matrix = features.to_numpy(dtype=np.float64 if numeric else object)

    def predict(stacked: list[np.ndarray]) -> np.ndarray:
        return scored.output(pd.DataFrame(stacked[0], columns=columns).astype(dtypes))

    groups = [g for g in column_groups([[str(c) for c in columns]], [len(columns)]) if g.level == ORIGINAL]
    return permutation_importance(predict, loss, [matrix], groups, permute_count, seed)


class QCEvaluator(ModelEvaluator):
    @classmethod
    def can_evaluate(cls, *, model_type, evaluator_config, **kwargs) -> bool:
        return model_type in MODEL_TYPES

    def evaluate(
        self,
        *,
        model_type,
        dataset,
        run_id,
        evaluator_config,
        model=None,
        extra_metrics=None,
        custom_artifacts=None,
        predictions=None,
        **kwargs,
    ) -> EvaluationResult:
        config = {**DEFAULTS, **(evaluator_config or {})}
        if not (bool(config["any_model"]) or is_qc_model(model)):
            return None  # someone else's model: MLflow's evaluators only, unless asked with any_model
        features, labels = _features(dataset), np.asarray(dataset.labels_data).reshape(-1)
        classification = model_type == "classifier"
        if model is None:
            scored = EvaluatedModel.from_predictions(dataset.predictions_data, labels, classification)
        elif classification:
            scored = EvaluatedModel.classifier(model, features, labels)
        else:
            scored = EvaluatedModel.regressor(model)
        split = config["split"]
        frame = pd.DataFrame({"split": split, "row": np.arange(len(labels)), "y_true": labels})
        if classification:
            y_index = label_positions(labels, scored.classes)
            if (y_index < 0).any():
                unknown = sorted({str(v) for v in labels[y_index < 0]})
                raise ValueError(f"labels {unknown[:5]} are not among the model's classes {scored.classes}")
            proba = scored.output(features)
            loss = lambda output: fast_log_loss(y_index, output)  # noqa: E731
            scores = classification_metrics(y_index, proba, loss(proba))
            frame["prediction"] = np.asarray(scored.classes, dtype=object)[predicted_index(proba)]
            for j, column in enumerate(probability_columns(scored.classes)):
                frame[column] = proba[:, j]
        else:
            values = scored.output(features)
            loss = lambda output: fast_squared_error(labels, output)  # noqa: E731
            scores = regression_metrics(labels, values)
            frame["prediction"] = values
        importance = pd.DataFrame()
        if model is not None and int(config["permute_count"]) > 0:
            importance = _importance(scored, loss, features, int(config["permute_count"]), int(config["seed"]))
            importance.insert(0, "split", split)
        return self._log(run_id, config, frame, importance, scores, scored.classes, classification)

    def _log(self, run_id, config, frame, importance, scores, classes, classification) -> EvaluationResult:
        from mlflow.models.evaluation.artifacts import (
            CsvEvaluationArtifact,
            JsonEvaluationArtifact,
            TextEvaluationArtifact,
        )

        prefix, split = config["metric_prefix"], config["split"]
        metrics = {f"{prefix}{k}": v for k, v in scores.items()}
        if len(importance):
            metrics.update({f"{prefix}{k}": v for k, v in importance_metrics(importance).items()})
        data = EvaluationData(
            predictions=frame.assign(model="model", run_id=run_id),
            importance=importance.assign(model="model", run_id=run_id) if len(importance) else importance,
            metrics=pd.DataFrame([{"model": "model", "key": f"{split}_{k}", "value": v} for k, v in scores.items()]),
        )
        analysis_type = (
            "regression" if not classification else f"classification_{'binary' if len(classes) == 2 else 'multi'}"
        )
        report = evaluation_report(
            data, classes, analysis_type, "mlflow_qc evaluation", f"{len(frame)} rows; {analysis_type}; run {run_id}"
        )
        client = MlflowClient()
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        artifact_uri = client.get_run(run_id).info.artifact_uri
        artifacts = {}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp, "qc")
            page, figures = report.write(folder)
            frame.to_parquet(folder / "predictions.parquet", index=False)
            artifacts["qc_report"] = TextEvaluationArtifact(f"{artifact_uri}/qc/{page.name}", page.read_text())
            artifacts["qc_report_data"] = JsonEvaluationArtifact(f"{artifact_uri}/qc/{figures.name}", None)
            if len(importance):
                importance.to_csv(folder / "importance.csv", index=False)
                artifacts["qc_importance"] = CsvEvaluationArtifact(f"{artifact_uri}/qc/importance.csv", importance)
            client.log_artifacts(run_id, str(folder), "qc")
        return EvaluationResult(metrics=metrics, artifacts=artifacts, run_id=run_id)
