"""A model run written in two transactions on the sqlite store reads back as MLflow's own calls leave it."""
from __future__ import annotations

import math
import sqlite3
import time

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

import mlflow_qc.run.model_run as model_run
from mlflow_qc.run.model_run import (
    Closing, ModelRun, SqlModelRun, _session_transaction, _sql_store, finish_runs, open_run,
)

TAGS = {"qc.level": "model", "qc.resume_key": "key-1", "mlflow.runName": "model a"}


def _content(run):
    """What a reader of the run sees, less what differs by nature between two runs."""
    tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}
    return run.info.status, run.data.params, {k: (v if not math.isnan(v) else "nan") for k, v in run.data.metrics.items()}, tags


@pytest.fixture(params=["sqlite cursor", "SQLAlchemy session"])
def writes(request, monkeypatch):
    """Each way the transactions are written: sqlite's own cursor, or SQLAlchemy as on MySQL/PostgreSQL."""
    if request.param == "SQLAlchemy session":
        monkeypatch.setattr("mlflow_qc.run.model_run._transaction", _session_transaction)
    return request.param


def test_two_transactions_leave_what_the_ordinary_calls_leave(store, writes):
    client, experiment_id = store
    sql_store = _sql_store(client)
    assert sql_store is not None and sql_store.db_type == "sqlite"
    with model_run._transaction(sql_store) as rows:  # the way under test is the way taken
        assert isinstance(rows, model_run._SqliteRows) == (writes == "sqlite cursor")
    now = int(time.time() * 1000)
    metrics = [Metric("train_accuracy", 0.75, now, 0), Metric("train_loss", float("nan"), now, 0),
               Metric("loss", 0.9, now, 0), Metric("loss", 0.5, now, 1), Metric("loss", 0.7, now + 1, 2)]
    params = [Param("C", "0.1"), Param("fold_index", "0")]
    tags = [RunTag("qc.model_uri", "runs:/x/model")]
    ordinary = ModelRun(client, experiment_id, TAGS)
    ordinary.end("FINISHED", metrics, params, tags)
    ours = SqlModelRun(client, sql_store, experiment_id, TAGS)
    assert client.get_run(ours.run_id).info.status == "RUNNING"  # visible to the QC pages while it trains
    ours.end("FINISHED", metrics, params, tags)

    theirs, mine = client.get_run(ordinary.run_id), client.get_run(ours.run_id)
    assert _content(mine) == _content(theirs)
    assert mine.data.metrics["loss"] == 0.7  # the latest step, as MLflow keeps it
    history = lambda run_id: [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]  # noqa: E731
    assert history(ours.run_id) == history(ordinary.run_id) == [(0, 0.9), (1, 0.5), (2, 0.7)]
    assert mine.info.end_time >= mine.info.start_time
    assert mine.data.tags["mlflow.runName"] == "model a"
    assert [r.info.run_id for r in client.search_runs([experiment_id], "metrics.train_accuracy = 0.75")] != []


def test_a_failed_write_leaves_nothing_and_names_the_store(store, monkeypatch):
    client, experiment_id = store
    run = open_run(client, experiment_id, TAGS)
    assert isinstance(run, SqlModelRun)
    # another writer holds the lock past the wait: the transaction rolls back whole
    monkeypatch.setattr("mlflow_qc.run.model_run._BUSY_TIMEOUT_MS", 50)
    locker = sqlite3.connect(client.tracking_uri.removeprefix("sqlite:///"))
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(MlflowException, match="locked"):
            run.end("FINISHED", [Metric("train_accuracy", 0.5, 0, 0)], [Param("C", "1")])
    finally:
        locker.rollback()
        locker.close()
    left = client.get_run(run.run_id)
    assert left.info.status == "RUNNING" and left.data.metrics == {} and left.data.params == {}
    run.end("FINISHED", [Metric("train_accuracy", 0.5, 0, 0)], [Param("C", "1")])  # the pooled connection still works
    assert client.get_run(run.run_id).data.metrics == {"train_accuracy": 0.5}


def test_fold_runs_closed_together_read_as_closed_apart(store, writes):
    client, experiment_id = store
    runs = [client.create_run(experiment_id).info.run_id for _ in range(3)]
    aggregates = [Metric("fold_validation_accuracy_mean", 0.5, 0, 0)]
    finish_runs(client, [Closing(run_id, "FINISHED", aggregates, [Param("fold_index", str(i))]) for i, run_id in enumerate(runs)])
    for i, run_id in enumerate(runs):
        run = client.get_run(run_id)
        assert (run.info.status, run.data.metrics, run.data.params) == (
            "FINISHED", {"fold_validation_accuracy_mean": 0.5}, {"fold_index": str(i)})


def test_a_run_closing_again_takes_mlflows_own_update(store, writes):
    client, experiment_id = store
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(run_id, metrics=[Metric("fold_validation_accuracy_mean", 0.1, 0, 0)], params=[Param("fold_index", "0")])
    finish_runs(client, [Closing(run_id, "FINISHED", [Metric("fold_validation_accuracy_mean", 0.5, 1, 0)], [Param("fold_index", "0")])])
    run = client.get_run(run_id)
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"fold_validation_accuracy_mean": 0.5})
    assert len(client.get_metric_history(run_id, "fold_validation_accuracy_mean")) == 2
