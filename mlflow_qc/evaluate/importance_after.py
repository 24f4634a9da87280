"""Permutation importance after the fact (the ``importance`` entry point), for runs trained with
``permute_count: 0``: ``qc/importance.csv`` on every model run below a run, then their jobs' reports
rebuilt (the table, not one metric per column: the MLflow UI's metric charts stay readable)."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from mlflow_qc import cache
from mlflow_qc.cache import CacheEntry
from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.artifacts import saved_model
from mlflow_qc.evaluate.importance_run import model_importance, write_importance
from mlflow_qc.evaluate.job_report import refresh_job_reports
from mlflow_qc.tracking.names import CACHE_KEY, NOT_HYPERPARAMETERS
from mlflow_qc.tracking.queries import experiment_run_of, model_runs_below


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def model_hyperparameters(run) -> dict:
    """A model run's hyperparameters, read back from its params."""
    return {k: _parse(v) for k, v in run.data.params.items() if k not in NOT_HYPERPARAMETERS}


def cache_entry_of(experiment_run) -> CacheEntry:
    key = experiment_run.data.tags.get(CACHE_KEY)
    root = cache.entry_path(key) if key else None
    if root is None or not cache.is_complete(root):
        raise QCError(
            f"run {experiment_run.info.run_id}",
            f"its prepared arrays (cache entry {key}) are not in {cache.cache_root()}; "
            "expected them there: run `mlflow-qc prepare` with the same recipe first",
        )
    return CacheEntry(root)


def _importance_of_run(client: MlflowClient, run, entry: CacheEntry, permute_count: int) -> None:
    params = run.data.params
    hyperparameters = model_hyperparameters(run)
    with tempfile.TemporaryDirectory() as tmp:
        saved = saved_model(run, tmp)
        table = model_importance(
            saved.adapter, saved.model, entry, saved.context, hyperparameters, permute_count, int(params.get("seed", 0))
        )
        if table.empty:
            return  # image inputs only: not computed
        out = Path(tmp, "out")
        write_importance(table, out)
        client.log_artifacts(run.info.run_id, str(out))


def importance_after_the_fact(run_id: str, permute_count: int) -> list[str]:
    """Importance for every finished model run below ``run_id``; rebuilds their jobs' reports."""
    if permute_count < 1:
        raise QCError("permute_count", f"{permute_count}; expected at least 1")
    client = MlflowClient()
    run = client.get_run(run_id)
    experiment_run = experiment_run_of(client, run)
    entry = cache_entry_of(experiment_run)
    models = model_runs_below(client, run)
    for model_run in models:
        _importance_of_run(client, model_run, entry, permute_count)
    refresh_job_reports(client, models, entry)
    return [m.info.run_id for m in models]
