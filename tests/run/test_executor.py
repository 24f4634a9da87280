"""The executor: the same records in-process and in parallel processes; observers in the worker."""

import mlflow
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.run.executor import execute
from mlflow_qc.run.observers import TrainingObserver
from mlflow_qc.tracking.names import FAILED, FINISHED
from tests.run.conftest import planned


class RefuseFold(TrainingObserver):
    def __init__(self, fold_index):
        self.fold_index = fold_index

    def model_finished(self, event):
        if event.task.fold_index == self.fold_index:
            raise RuntimeError(f"observer refuses fold {self.fold_index}")
        event.metrics["observed"] = 1.0
        (event.folder / "observed.txt").write_text(event.run_id)


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
