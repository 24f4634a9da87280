"""Registering the best model of an experiment run (``mlflow-qc register``, the recipe's ``register:``).

Jobs are ranked by the mean of a metric over their finished models (qc/metrics_aggregate.csv);
of the best job, the model ``evaluate.selection`` picks is registered (the refit model when the
trainer refit the job, else the model closest to the job's median: never the luckiest fold's),
and the version is described by the job's mean and interval. The
baseline job is never ranked nor registered. With a gate (``register.gate``, ``--gate``) the
alias moves only when the new model beats the version holding it (``gate``); otherwise the
new version gets the alias ``challenger``. The version's description says what was compared.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import mlflow
import pandas as pd
import yaml
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.evaluate.compare_sources import experiment_source
from mlflow_qc.evaluate.selection import REFIT_RULE, RULE, estimate_text, job_estimate, representative_model
from mlflow_qc.run.observers import ExperimentClosed, TrainingObserver
from mlflow_qc.serve.atomic_registration import register_with_alias
from mlflow_qc.serve.gate import Candidate, GateDecision, decide
from mlflow_qc.serve.quiet import no_progress_bars
from mlflow_qc.tracking.names import (
    CHALLENGER_ALIAS,
    DEFAULT_ALIAS,
    EXPERIMENT,
    FINISHED,
    JOB_INDEX,
    LEVEL,
    MODEL_ARTIFACT,
    MODEL_RUN_ID,
    MODEL_URI,
    RANKING_METRIC,
    RECIPE_ARTIFACT,
    REFIT,
    REGISTERED_MODEL,
    VERSION_DATA_VERSIONS,
    VERSION_EXPERIMENT_RUN_ID,
    VERSION_GATE,
    VERSION_GATE_HOLDER,
    VERSION_GATE_P_VALUE,
    VERSION_JOB_RUN_ID,
    VERSION_METRIC,
    VERSION_METRIC_VALUE,
    VERSION_RECIPE,
    declare_directions_of,
)
from mlflow_qc.tracking.queries import get_run, job_run_id_of
from mlflow_qc.tracking.tables import (
    candidate_jobs,
    flag,
    hyperparameter_twin,
    rank_jobs,
    read_aggregates,
    read_metrics,
)

log = logging.getLogger(__name__)


DVC_SOURCE = "dvc"


@dataclass(frozen=True)
class Choice:
    job_index: int
    model_run_id: str
    value: float
    refit: bool
    ranked_index: int  # the job the ranking chose (job_index, or the job a refit model refit)


def register_best(
    run_id: str,
    metric: str | None = None,
    model_name: str | None = None,
    alias: str | None = None,
    gate: float | None = None,
) -> ModelVersion:
    """Register the best model of experiment run ``run_id`` and point ``alias`` at it (gated: see the module).

    Defaults come from the recipe logged on the run (its ``register:`` block), then the run's
    ranking metric, the recipe's name and ``champion``.
    """
    client = MlflowClient()
    run = _experiment_run(client, run_id)
    with no_progress_bars():
        recipe = _logged_recipe(run_id)
        jobs, models = _tables(run_id)
    block = recipe.get("register") or {}
    metric = metric or block.get("metric") or run.data.tags.get(RANKING_METRIC)
    if not metric:
        raise QCError("metric", f"experiment run {run_id} names no ranking metric; expected --metric")
    name = (
        model_name
        or block.get("model_name")
        or recipe.get("name")
        or client.get_experiment(run.info.experiment_id).name
    )
    alias = alias or block.get("alias") or DEFAULT_ALIAS
    gate = checked_gate(gate if gate is not None else block.get("gate"), alias)
    choice = best_model(run_id, metric, jobs, models)
    log.info(
        "registering the best model of experiment run %s by %s: run %s (%s %.4g) as %s@%s",
        run_id,
        metric,
        choice.model_run_id,
        metric,
        choice.value,
        name,
        alias,
    )
    model_run = client.get_run(choice.model_run_id)
    tags = {
        VERSION_RECIPE: str(recipe.get("name") or name),
        VERSION_EXPERIMENT_RUN_ID: run_id,
        VERSION_JOB_RUN_ID: job_run_id_of(client, model_run),
        JOB_INDEX: str(choice.job_index),
        MODEL_RUN_ID: choice.model_run_id,
        REFIT: str(choice.refit).lower(),
        VERSION_METRIC: metric,
        VERSION_METRIC_VALUE: repr(choice.value),
        VERSION_DATA_VERSIONS: json.dumps(data_versions(run), sort_keys=True),
    }
    model_uri = model_run.data.tags.get(MODEL_URI, f"runs:/{choice.model_run_id}/{MODEL_ARTIFACT}")
    description = version_description(client, run_id, metric, choice, models)
    decision = None
    if gate is not None:  # decided before anything is written
        decision = decide(
            client, name, alias, gate, Candidate(run_id, choice.ranked_index, choice.model_run_id, model_uri, metric)
        )
        tags.update(gate_tags(gate, decision))
        description += f"\n{decision.text}"
    moved_alias = alias if decision is None or decision.moved else CHALLENGER_ALIAS
    return register_with_alias(client, model_uri, name, tags, moved_alias, description)  # all or nothing, signals too


def version_description(client, run_id: str, metric: str, choice: Choice, models: pd.DataFrame) -> str:
    """The job's mean and interval (of the job a refit model refit), and which of its models this is."""
    ranked = models[(models["job_index"] == choice.ranked_index) & (models["status"] == FINISHED)]
    try:
        sizes = experiment_source(client, run_id).sizes
    except QCError:
        sizes = {}
    estimate = estimate_text(metric, choice.ranked_index, job_estimate(ranked, metric, sizes))
    rule = REFIT_RULE if choice.refit else RULE
    return f"{estimate}; model run {choice.model_run_id} of experiment run {run_id}: {rule}"


def checked_gate(gate, alias: str) -> float | None:
    if gate is None:
        return None
    if isinstance(gate, bool) or not isinstance(gate, (int, float)) or not 0 < gate < 1:
        raise QCError("gate", f"{gate!r}; expected a p-value between 0 and 1, such as 0.05")
    if alias == CHALLENGER_ALIAS:
        raise QCError(
            "alias", f"'{CHALLENGER_ALIAS}' is the gate's alias for versions that did not win; expected another alias"
        )
    return float(gate)


def gate_tags(gate: float, decision: GateDecision) -> dict[str, str]:
    tags = {VERSION_GATE: repr(gate)}
    if decision.p_value is not None:
        tags[VERSION_GATE_P_VALUE] = repr(decision.p_value)
    if decision.holder_version is not None:
        tags[VERSION_GATE_HOLDER] = decision.holder_version
    return tags


def best_model(run_id: str, metric: str, jobs: pd.DataFrame, models: pd.DataFrame) -> Choice:
    """``jobs``, ``models``: the run's qc/metrics_aggregate.csv and qc/metrics.csv."""
    finished = models[models["status"] == FINISHED] if not models.empty else models
    if finished.empty:
        raise QCError(f"experiment run {run_id}", "has no finished model; expected at least one to register")
    known = sorted(c[: -len("_mean")] for c in jobs.columns if c.endswith("_mean"))
    if metric not in known:
        raise QCError("metric", f"'{metric}' is not a metric of experiment run {run_id}; expected one of {known}")
    ranked = rank_jobs(candidate_jobs(jobs), metric)
    if ranked.empty:
        raise QCError(
            "metric", f"no job of experiment run {run_id} has a value for '{metric}'; expected another metric"
        )
    best = ranked.iloc[0]
    refit = hyperparameter_twin(jobs, best, refit=True)
    job_index = int(best["job_index"] if refit is None else refit["job_index"])
    top = representative_model(finished[finished["job_index"] == job_index], metric)
    return Choice(
        job_index=job_index,
        model_run_id=str(top["run_id"]),
        value=float(best[f"{metric}_mean"]),
        refit=refit is not None,
        ranked_index=int(best["job_index"]),
    )


def _experiment_run(client: MlflowClient, run_id: str):
    run = get_run(client, run_id)
    level = run.data.tags.get(LEVEL)
    if level != EXPERIMENT:
        raise QCError(
            "run_id", f"run {run_id} is a {level or 'non-QC'} run; expected an experiment run (tag {LEVEL}=experiment)"
        )
    declare_directions_of(run.data.tags)  # its user metrics' directions (evaluation.metrics)
    return run


def _tables(run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        return read_aggregates(run_id), read_metrics(run_id)
    except MlflowException:
        raise QCError(
            f"experiment run {run_id}", "has no qc/metrics.csv: no model finished; expected a trained experiment run"
        ) from None


def _logged_recipe(run_id: str) -> dict:
    try:
        text = mlflow.artifacts.load_text(f"runs:/{run_id}/{RECIPE_ARTIFACT}")
    except MlflowException:
        return {}
    return yaml.safe_load(text) or {}


def data_versions(run) -> dict[str, str]:
    """Dataset name -> DVC md5 of every dataset input the experiment run logged."""
    versions = {}
    for item in run.inputs.dataset_inputs if run.inputs else []:
        dataset = item.dataset
        if dataset.source_type == DVC_SOURCE:
            versions[dataset.name] = json.loads(dataset.source).get("md5")
    return versions


class Registration(TrainingObserver):
    """The recipe's ``register:`` block: once the experiment is summarised, register its best model."""

    def __init__(self, metric: str | None, model_name: str, alias: str | None, gate: float | None = None):
        self.metric, self.model_name, self.alias, self.gate = metric, model_name, alias, gate

    def experiment_closed(self, client, event: ExperimentClosed) -> None:
        models = event.models
        if not event.finished or not ((models["status"] == FINISHED) & ~flag(models, "baseline")).any():
            return  # nothing to register (the baseline never is): the training ends with "nothing succeeded"
        version = register_best(event.run_id, self.metric, self.model_name, self.alias, self.gate)
        client.set_tag(event.run_id, REGISTERED_MODEL, f"models:/{version.name}/{version.version}")
