"""Reading an experiment's results back as DataFrames."""
from __future__ import annotations

import mlflow
import pandas as pd

from mlflow_qc.run.summary import AGGREGATE_ARTIFACT, METRICS_ARTIFACT


def _csv(run_id: str, artifact: str) -> pd.DataFrame:
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact)
    return pd.read_csv(path)


def metrics(run_id: str) -> pd.DataFrame:
    """One row per model of the experiment run: identity, hyperparameters, ``{split}_{metric}``."""
    return _csv(run_id, METRICS_ARTIFACT)


def aggregates(run_id: str) -> pd.DataFrame:
    """One row per job: ``{split}_{metric}_{mean,median,std,min,max}`` over its models."""
    return _csv(run_id, AGGREGATE_ARTIFACT)
