"""Reading the run tree back: levels, parents, the model runs below a run."""

from __future__ import annotations

from mlflow.entities import Experiment, Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.tracking.names import (
    EXPERIMENT,
    FINISHED,
    FOLD,
    FOLD_INDEX,
    JOB,
    JOB_KEY,
    LEVEL,
    MODEL,
    PARENT,
    REPEAT_INDEX,
    RESUME_KEY,
    REUSED_MODELS,
)

PAGE_SIZE = 5000
IDS_PER_QUERY = 200  # run ids in one IN (...) filter


def search_all(client: MlflowClient, experiment_id: str | list[str], filter_string: str) -> list[Run]:
    """Every active run of the experiment(s) matching ``filter_string``, page after page."""
    ids = [experiment_id] if isinstance(experiment_id, str) else list(experiment_id)
    runs, token = [], None
    while True:
        page = client.search_runs(ids, filter_string, ViewType.ACTIVE_ONLY, max_results=PAGE_SIZE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def runs_by_id(client: MlflowClient, experiment_id: str, run_ids: list[str]) -> list[Run]:
    """The active runs of these ids, in their order, a few queries for them all (``get_run`` costs
    several per run on a SQL store)."""
    found = {}
    for start in range(0, len(run_ids), IDS_PER_QUERY):
        listed = ", ".join(f"'{run_id}'" for run_id in run_ids[start : start + IDS_PER_QUERY])
        found |= {run.info.run_id: run for run in search_all(client, experiment_id, f"attributes.run_id IN ({listed})")}
    return [found[run_id] for run_id in run_ids if run_id in found]


def level_of(run: Run) -> str | None:
    return run.data.tags.get(LEVEL)


def is_experiment_run(run: Run) -> bool:
    return level_of(run) == EXPERIMENT


def get_run(client: MlflowClient, run_id: str, where: str = "run_id") -> Run:
    """The run, or a QCError naming the store when there is none."""
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise QCError(where, f"no run {run_id} in {client.tracking_uri}; expected the id of an mlflow_qc run") from None


def job_run_id_of(client: MlflowClient, model_run: Run) -> str:
    """The job run above a model run (its parent, or its parent's parent under a fold run)."""
    parent = client.get_run(model_run.data.tags[PARENT])
    return parent.data.tags[PARENT] if level_of(parent) == FOLD else parent.info.run_id


def experiment_run_of(client: MlflowClient, run: Run) -> Run:
    """The experiment run at the top of the tree holding ``run`` (``run`` itself for an experiment run)."""
    while not is_experiment_run(run):
        parent = run.data.tags.get(PARENT)
        if not parent:
            raise QCError(
                f"run {run.info.run_id}", "no experiment run above it; expected a run of an mlflow_qc training"
            )
        run = client.get_run(parent)
    return run


def model_runs_below(client: MlflowClient, run: Run) -> list[Run]:
    """The finished model runs of a model, fold, job or experiment run: those of its own tree (parented
    below it) and the earlier ones its fold or job runs count by reference (``qc.reused_models``)."""
    tags = run.data.tags
    level = level_of(run)
    if level == MODEL:
        return [run]
    if level not in (FOLD, JOB, EXPERIMENT):
        raise QCError(
            "run_id", f"run {run.info.run_id} has {LEVEL}={level!r}; expected a model, fold, job or experiment run"
        )
    experiment_id = run.info.experiment_id
    query = f"tags.`{LEVEL}` = '{MODEL}' and attributes.status = '{FINISHED}' and tags.`{RESUME_KEY}` = '{tags[RESUME_KEY]}'"
    if level in (FOLD, JOB):
        query += f" and tags.`{JOB_KEY}` = '{tags[JOB_KEY]}'"
    if level == FOLD:
        query += f" and tags.`{FOLD_INDEX}` = '{tags[FOLD_INDEX]}'"
    parents = [run]
    if level == EXPERIMENT:
        parents += tree_runs(client, experiment_id, tags[RESUME_KEY], JOB, f"tags.`{PARENT}` = '{run.info.run_id}'")
    if level in (JOB, EXPERIMENT):
        jobs = {r.info.run_id for r in parents}
        parents += [
            r for r in tree_runs(client, experiment_id, tags[RESUME_KEY], FOLD) if r.data.tags.get(PARENT) in jobs
        ]
    own = {r.info.run_id for r in parents}
    counted = {model_id for r in parents for model_id in r.data.tags.get(REUSED_MODELS, "").split(",") if model_id}
    return [
        m
        for m in search_all(client, experiment_id, query)
        if m.data.tags.get(PARENT) in own or m.info.run_id in counted
    ]


def tree_runs(client: MlflowClient, experiment_id: str, resume_key: str, level: str, where: str = "") -> list[Run]:
    """The runs of one level of the tree with ``resume_key`` (and the filter ``where``)."""
    query = f"tags.`{RESUME_KEY}` = '{resume_key}' and tags.`{LEVEL}` = '{level}'"
    return search_all(client, experiment_id, f"{query} and {where}" if where else query)


def active_experiments(client: MlflowClient) -> list[Experiment]:
    found, token = [], None
    while True:
        page = client.search_experiments(ViewType.ACTIVE_ONLY, max_results=1000, page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return found


def experiment_runs(client: MlflowClient, experiment_ids: list[str]) -> list[Run]:
    """The experiment runs of these experiments, newest first."""
    runs = [
        run
        for start in range(0, len(experiment_ids), 100)  # MLflow searches at most 100 experiments at once
        for run in search_all(client, experiment_ids[start : start + 100], f"tags.`{LEVEL}` = '{EXPERIMENT}'")
    ]
    return sorted(runs, key=lambda run: run.info.start_time or 0, reverse=True)


def runs_of_model(
    client: MlflowClient, experiment_id: str, resume_key: str, parent_run_id: str, repeat_index: int
) -> list[Run]:
    """Every active run of one model (the repeat under its fold or job run), earlier attempts included."""
    query = (
        f"tags.`{RESUME_KEY}` = '{resume_key}' and tags.`{LEVEL}` = '{MODEL}' "
        f"and tags.`{PARENT}` = '{parent_run_id}' and tags.`{REPEAT_INDEX}` = '{repeat_index}'"
    )
    return search_all(client, experiment_id, query)


def children_of(client: MlflowClient, experiment_id: str, run_id: str) -> list[Run]:
    return search_all(client, experiment_id, f"tags.`{PARENT}` = '{run_id}'")


def is_job_run(run: Run) -> bool:
    return level_of(run) == JOB
