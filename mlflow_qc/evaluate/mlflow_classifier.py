"""MLflow's own classifier evaluator, made to read qc models.

``mlflow.models.evaluate(model_uri, data, targets=..., model_type="classifier")`` runs MLflow's
built-in ``classifier`` evaluator, which takes a model's whole output as its labels and asks only
scikit-learn, XGBoost and CatBoost flavors for probabilities. A qc model answers a table
(``prediction`` plus ``probability_<class>``), so MLflow failed on it ("all the input arrays must
have same number of dimensions"). Registered under the same name through MLflow's
``mlflow.model_evaluator`` entry point, this subclass hands MLflow, for qc models only, the labels
from ``prediction`` and the probabilities from ``probability_<class>`` in MLflow's sorted class
order; MLflow then computes, plots and logs everything itself. Any other model is MLflow's case.
"""
from __future__ import annotations

import numpy as np
from mlflow.models.evaluation.evaluators.classifier import ClassifierEvaluator as MlflowClassifierEvaluator

from mlflow_qc.models.outputs import label_positions, probability_columns
from mlflow_qc.serve.pyfunc import QCModel


def qc_model_of(model) -> QCModel | None:
    """The QCModel behind a loaded pyfunc model, if it is one."""
    implementation = getattr(model, "_model_impl", None)
    return implementation if isinstance(implementation, QCModel) else None


class ClassifierEvaluator(MlflowClassifierEvaluator):
    def _generate_model_predictions(self, model, input_df):
        qc_model = qc_model_of(model)
        if qc_model is None:
            return super()._generate_model_predictions(model, input_df)
        output = model.predict(input_df)
        classes = list(qc_model.classes)
        if self.label_list is None:  # MLflow would infer it from the labels seen; the model knows them all
            self.label_list = classes
        labels = np.sort(np.asarray(self.label_list))  # MLflow aligns probability columns with this order
        probabilities = output[probability_columns(classes)].to_numpy(dtype=np.float64)
        position = label_positions(labels, classes)
        aligned = np.zeros((len(output), len(labels)))
        aligned[:, position >= 0] = probabilities[:, position[position >= 0]]
        return output["prediction"].to_numpy(), aligned
