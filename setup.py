"""Build script beside pyproject.toml (which holds the metadata, requirements and extras): the
console script and MLflow's plugin entry points."""

from setuptools import setup

setup(
    entry_points={
        "console_scripts": ["mlflow-qc=mlflow_qc.cli:console_main"],
        "mlflow.dataset_source": ["dvc=mlflow_qc.data.source:DVCDatasetSource"],
        "mlflow.run_context_provider": ["mlflow_qc=mlflow_qc.data.context:DVCRunContextProvider"],
        "mlflow.model_evaluator": ["qc=mlflow_qc.evaluate.evaluator:QCEvaluator"],
        "mlflow.app": ["qc=mlflow_qc.ui.app:create_app", "qc-auth=mlflow_qc.ui.app:create_auth_app"],
    },
)
