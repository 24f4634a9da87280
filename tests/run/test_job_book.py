"""The job book: a job closes when all its models are back, with aggregates per fold and job."""

from types import SimpleNamespace

import mlflow
import pytest

from mlflow_qc.run.jobs import JobBook
from mlflow_qc.run.observers import TrainingObserver
from mlflow_qc.run.plan import Job, ModelRecord
from mlflow_qc.tracking.names import FAILED, FINISHED
from tests.run.conftest import new_tree, tasks_of


class Heard(TrainingObserver):
    def __init__(self):
        self.closed = []

    def job_closed(self, client, event):
        self.closed.append((event.run_id, [r.status for r in event.records], client.get_run(event.run_id).info.status))


def record(task, accuracy, status=FINISHED):
    metrics = {"fold_validation_accuracy": accuracy, "fit_seconds": 1.0, "loss": 0.3} if status == FINISHED else {}
    return ModelRecord(
        task,
        f"run-{task.fold_index}-{task.repeat_index}",
        status,
        metrics,
        None if status == FINISHED else "Traceback\nValueError: no",
    )


def test_a_job_closes_once_its_models_are_back(store):
    client, experiment_id = store
    tree = new_tree(client, experiment_id)
    heard = Heard()
    book = JobBook(tree, "classification_binary", SimpleNamespace(meta={"classes": ["a", "b"]}, root="entry"), [heard])
    job = Job(0, {"C": 1.0})
    tasks = tasks_of(tree, job)
    book.expect(tasks)
    values = [0.5, 0.7, 0.6, 0.8]
    for task, value in zip(tasks[:3], values):
        assert book.record(record(task, value)) is None
    assert book.record(record(tasks[3], values[3])) == job
    assert book.models_of(job)[0].metrics == {"fold_validation_accuracy": 0.5}  # split metrics only

    book.close(job)

    job_run = client.get_run(tree.job_run(job))
    assert job_run.info.status == FINISHED
    assert job_run.data.metrics["fold_validation_accuracy_mean"] == pytest.approx(0.65)
    assert job_run.data.metrics["fold_validation_accuracy_max"] == 0.8
    folds = {k: client.get_run(run_id) for (_, k), run_id in tree.fold_runs.items()}
    assert folds[0].data.metrics["fold_validation_accuracy_mean"] == pytest.approx(0.6)
    assert folds[1].data.params == {"fold_index": "1"}
    assert heard.closed == [(tree.job_run(job), [FINISHED] * 4, "RUNNING")]  # heard before the run ends
    assert book.record(record(tasks[0], 0.9)) is None  # a closed job does not close again


def test_a_failed_model_fails_its_fold_and_job_with_its_traceback(store):
    client, experiment_id = store
    tree = new_tree(client, experiment_id)
    book = JobBook(tree, "classification_binary", SimpleNamespace(meta={}, root="entry"), [])
    job = Job(0, {"C": 1.0})
    tasks = tasks_of(tree, job, folds=2, repeats=1)
    book.expect(tasks)
    book.record(record(tasks[0], 0.5))
    assert book.record(record(tasks[1], None, FAILED)) == job
    book.close(job)
    job_run = client.get_run(tree.job_run(job))
    assert job_run.info.status == FAILED
    assert job_run.data.metrics["fold_validation_accuracy_mean"] == 0.5  # from the finished model only
    error = mlflow.artifacts.load_text(f"runs:/{job_run.info.run_id}/qc/error.txt")
    assert "# job 0 fold 1 repeat 0" in error and "ValueError: no" in error
    assert client.get_run(tree.fold_runs[(job.key, 0)]).info.status == FINISHED
    assert client.get_run(tree.fold_runs[(job.key, 1)]).info.status == FAILED
    assert [r.task.fold_index for r in book.failures] == [1] and len(book.finished) == 1
