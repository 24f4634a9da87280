"""A real sqlite MLflow store per test, and trees written into it by hand."""

from __future__ import annotations

import dataclasses

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlflow_qc.prepare import prepare
from mlflow_qc.recipe import load_recipe
from mlflow_qc.run.plan import Job, plan_tasks
from mlflow_qc.run.tree import RunTree, tree_tags
from mlflow_qc.run.worker import TaskEnvironment
from mlflow_qc.tracking.names import EXPERIMENT, LEVEL


@pytest.fixture
def store(tmp_path, monkeypatch):
    """(client, experiment id) of a fresh sqlite store that this process's MLflow also uses."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(leaked, raising=False)
    client = MlflowClient(uri)
    return client, client.create_experiment("tree", artifact_location=str(tmp_path / "artifacts"))


def experiment_run(client, experiment_id: str, resume_key: str, **tags) -> str:
    run = client.create_run(experiment_id, tags={**tree_tags(resume_key, EXPERIMENT), **tags})
    return run.info.run_id


def new_tree(client, experiment_id: str, resume_key: str = "key-1") -> RunTree:
    return RunTree(client, experiment_id, experiment_run(client, experiment_id, resume_key), resume_key)


def tasks_of(tree: RunTree, job: Job, folds: int = 2, repeats: int = 2):
    """The job's tasks with their parent runs opened in ``tree``, as the training does."""
    import dataclasses

    contexts = [f"fold_{k}" for k in range(folds)]
    return [
        dataclasses.replace(task, parent_run_id=tree.parent_of(task))
        for task in plan_tasks([job], contexts, repeats, 7)
    ]


def level_of(client, run_id: str) -> str:
    return client.get_run(run_id).data.tags[LEVEL]


IRIS = {
    "name": "executor",
    "seed": 3,
    "data": {
        "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
        "target": {"column": "species"},
        "stratifier": {"size_test": 0.2, "fold_count": 2},
        "version": "off",
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_multi",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [0.1, 1.0]},
    },
}


@pytest.fixture
def setting(workspace):
    (workspace / "recipes").mkdir()
    path = workspace / "recipes" / "executor.yaml"
    path.write_text(yaml.safe_dump(IRIS))
    recipe = load_recipe(path)
    prepared = prepare(recipe)
    client = MlflowClient()
    experiment_id = client.create_experiment("executor")
    return recipe, prepared, client, experiment_id


def planned(setting, observers=()):
    recipe, prepared, client, experiment_id = setting
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key"), "key")
    jobs = [Job(0, {"C": 0.1}), Job(1, {"C": 1.0})]
    tasks = [
        dataclasses.replace(t, parent_run_id=tree.parent_of(t))
        for t in plan_tasks(jobs, prepared.entry.contexts, 1, recipe.seed)
    ]
    env = TaskEnvironment(
        mlflow.get_tracking_uri(), experiment_id, "key", recipe.model, str(prepared.entry.root), tuple(observers)
    )
    return tasks, env
