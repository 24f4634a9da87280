"""Reading an experiment's results back as DataFrames: ``metrics(run_id)`` (one row per model)
and ``aggregates(run_id)`` (one row per job)."""

from mlflow_qc.tracking.tables import read_aggregates as aggregates
from mlflow_qc.tracking.tables import read_metrics as metrics

__all__ = ["aggregates", "metrics"]
