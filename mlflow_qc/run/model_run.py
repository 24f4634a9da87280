"""A run's writes to the store: MLflow's public calls (run/model_run_public.py), or, on a sqlite store of
a known schema, two transactions (run/model_run_sqlite.py).

Any other store, schema, or data MLflow would check (an unusual key, a long value) takes the public
way; ``MLFLOW_QC_PUBLIC_WRITES=1`` forces it.
"""

from __future__ import annotations

from mlflow.entities import Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_qc.run.model_run_public import Closing, ModelRun, log_and_end
from mlflow_qc.run.model_run_sqlite import (
    PUBLIC_WRITES_ENV,
    SqlModelRun,
    fast_store,
    finished_in_one_go,
    within_mlflow_limits,
)

__all__ = ["PUBLIC_WRITES_ENV", "Closing", "ModelRun", "SqlModelRun", "fast_store", "finish_runs", "open_run"]


def open_run(
    client: MlflowClient,
    experiment_id: str,
    tags: dict[str, str],
    params: list[Param] = (),
    model_name: str | None = None,
) -> ModelRun:
    """A new RUNNING run with its tags (``mlflow.runName`` its name) and ``params``; with ``model_name``, its
    logged model (PENDING until the run ends)."""
    path = fast_store(client.tracking_uri)
    if path is None or not within_mlflow_limits((), list(params), [RunTag(k, v) for k, v in tags.items()]):
        return ModelRun(client, experiment_id, tags, params, model_name)
    return SqlModelRun(client, path, experiment_id, tags, params, model_name)


def finish_runs(client: MlflowClient, closings: list[Closing]) -> None:
    """``log_batch`` then ``set_terminated`` of existing runs (fold or job runs closing with their
    aggregates); the fast way in one transaction for all that have none of these keys yet
    (an adopted run closing again takes the public calls, which update what is there)."""
    path = fast_store(client.tracking_uri)
    left = closings if path is None else finished_in_one_go(path, closings)
    for closing in left:
        log_and_end(client, closing.run_id, closing.status, list(closing.metrics), list(closing.params))
