"""Leak-free preprocessing: column filters, interpolation, encoders, FittedPipeline."""

from mlflow_qc.preprocess.checks import validate
from mlflow_qc.preprocess.pipeline import FittedPipeline, PreparedSplit

__all__ = ["FittedPipeline", "PreparedSplit", "validate"]
