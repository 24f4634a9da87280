"""Datasets, their DVC versions and the MLflow dataset source."""

# MLflow registers its plugin entry points (ours among them) while it imports itself;
# importing it first keeps a half-imported mlflow_qc.data from hiding them.
import mlflow  # noqa: F401
