"""The executor: the same records in-process and in parallel processes; observers in the worker."""
import dataclasses

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.prepare import prepare
from mlflow_qc.recipe import load_recipe
from mlflow_qc.run.executor import execute
from mlflow_qc.run.observers import TrainingObserver
from mlflow_qc.run.plan import Job, plan_tasks
from mlflow_qc.run.tree import RunTree
from mlflow_qc.run.worker import TaskEnvironment
from mlflow_qc.tracking.names import FAILED, FINISHED
from tests.run.conftest import experiment_run

IRIS = {
    "name": "executor", "seed": 3,
    "data": {"inputs": [{"dataset": {"path": "../data/iris.tsv"}}], "target": {"column": "species"},
             "stratifier": {"size_test": 0.2, "fold_count": 2}, "version": "off"},
    "model": {"library": "sklearn", "analysis_type": "classification_multi",
              "estimator": "sklearn.linear_model.LogisticRegression", "hyperparameters": {"C": [0.1, 1.0]}},
}


class RefuseFold(TrainingObserver):
    def __init__(self, fold_index):
        self.fold_index = fold_index

    def model_finished(self, event):
        if event.task.fold_index == self.fold_index:
            raise RuntimeError(f"observer refuses fold {self.fold_index}")
        event.metrics["observed"] = 1.0
        (event.folder / "observed.txt").write_text(event.run_id)


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
    tasks = [dataclasses.replace(t, parent_run_id=tree.parent_of(t))
             for t in plan_tasks(jobs, prepared.entry.contexts, 1, recipe.seed)]
    env = TaskEnvironment(mlflow.get_tracking_uri(), experiment_id, "key", recipe.model, str(prepared.entry.root), tuple(observers))
    return tasks, env


def test_parallel_workers_give_the_records_of_one_process(setting):
    tasks, env = planned(setting)
    alone = {r.task.identity: r for r in execute(tasks, env, n_jobs=1)}
    tasks, env = planned(setting)
    together = {r.task.identity: r for r in execute(tasks, env, n_jobs=2)}
    assert set(alone) == set(together) == {t.identity for t in tasks}
    assert {r.status for r in [*alone.values(), *together.values()]} == {FINISHED}
    for identity, record in alone.items():
        assert together[identity].metrics == record.metrics
        assert together[identity].run_id != record.run_id
    assert "fold_validation_accuracy" in next(iter(alone.values())).metrics


def test_an_observer_that_fails_fails_only_its_model(setting):
    client = setting[2]
    tasks, env = planned(setting, [RefuseFold(1)])
    records = list(execute(tasks, env, n_jobs=1))
    failed = [r for r in records if r.status == FAILED]
    assert [r.task.fold_index for r in failed] == [1, 1]
    assert "RuntimeError: observer refuses fold 1" in failed[0].error
    assert client.get_run(failed[0].run_id).info.status == FAILED
    assert "observer refuses fold 1" in mlflow.artifacts.load_text(f"runs:/{failed[0].run_id}/qc/error.txt")
    good = next(r for r in records if r.status == FINISHED)
    run = client.get_run(good.run_id)
    assert run.data.metrics["observed"] == 1.0
    assert mlflow.artifacts.load_text(f"runs:/{good.run_id}/observed.txt") == good.run_id


def test_a_backend_whose_package_is_missing_is_named(setting):
    tasks, env = planned(setting)
    with pytest.raises(QCError, match="trainer.backend: backend 'ray' needs the package 'ray'"):
        list(execute(tasks, env, n_jobs=2, backend="ray"))
