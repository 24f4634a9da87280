"""Leak-free preprocessing: column filters, interpolation, encoders, FittedPipeline."""
from mlflow_qc.preprocess.pipeline import FittedPipeline, PreparedSplit
from mlflow_qc.preprocess.checks import validate

__all__ = ["FittedPipeline", "PreparedSplit", "validate"]
