"""A model run written the fast way (two transactions on mlflow-qc's own sqlite connection, a known schema) reads
back as MLflow's public calls leave it, logged model included; the run tree trains the same both ways."""

from __future__ import annotations

import math
import sqlite3
import time

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus, Metric, Param, RunTag
from mlflow.exceptions import MlflowException

import mlflow_qc.run.model_run_sqlite as model_run_sqlite
from mlflow_qc.run.model_run import Closing, ModelRun, SqlModelRun, fast_store, finish_runs, open_run
from tests.run.conftest import planned

TAGS = {"qc.level": "model", "qc.resume_key": "key-1", "mlflow.runName": "model a"}


def _content(run):
    """What a reader of the run sees, less what differs by nature between two runs."""
    tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}
    return (
        run.info.status,
        run.data.params,
        {k: (v if not math.isnan(v) else "nan") for k, v in run.data.metrics.items()},
        tags,
    )


def _model_content(client, model_id: str):
    model = client.get_logged_model(model_id)
    metrics = sorted((m.key, m.value, m.step) for m in model.metrics)
    return model.name, model.status.to_int(), model.params, metrics


@pytest.fixture(params=["fast", "public"])
def way(request, monkeypatch):
    """Each way a run is written: the fast way, or MLflow's public calls (``MLFLOW_QC_PUBLIC_WRITES=1``)."""
    if request.param == "public":
        monkeypatch.setenv(model_run_sqlite.PUBLIC_WRITES_ENV, "1")
    return request.param


def test_the_fast_way_leaves_what_the_public_calls_leave(store):
    client, experiment_id = store
    assert fast_store(client.tracking_uri) is not None  # MLflow's schema here is one the fast way knows
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 0.9, now, 0), Metric("loss", 0.5, now, 1), Metric("loss", 0.7, now + 1, 2)]
    split = [Metric("train_accuracy", 0.75, now, 0), Metric("train_loss", float("nan"), now, 0)]
    params = [Param("C", "0.1"), Param("fold_index", "0")]
    tags = [RunTag("qc.model_uri", "models:/x")]
    public = ModelRun(client, experiment_id, TAGS, params[:1], model_name="model")
    public.end("FINISHED", metrics, params[1:], tags, split)
    fast = SqlModelRun(client, fast_store(client.tracking_uri), experiment_id, TAGS, params[:1], model_name="model")
    running = client.get_run(fast.run_id)
    assert running.info.status == "RUNNING"  # visible to the QC pages while it trains
    assert client.get_logged_model(fast.model_id).status == LoggedModelStatus.PENDING
    assert [o.model_id for o in running.outputs.model_outputs] == [fast.model_id]
    fast.end("FINISHED", metrics, params[1:], tags, split)

    theirs, mine = client.get_run(public.run_id), client.get_run(fast.run_id)
    assert _content(mine) == _content(theirs)
    assert mine.data.metrics["loss"] == 0.7  # the latest step, as MLflow keeps it
    history = lambda run_id: [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")]  # noqa: E731
    assert history(fast.run_id) == history(public.run_id) == [(0, 0.9), (1, 0.5), (2, 0.7)]
    assert mine.info.end_time >= mine.info.start_time and mine.data.tags["mlflow.runName"] == "model a"
    assert _model_content(client, fast.model_id) == _model_content(client, public.model_id)
    logged = client.get_logged_model(fast.model_id)
    assert logged.source_run_id == fast.run_id and logged.status == LoggedModelStatus.READY
    assert logged.params == {"C": "0.1", "fold_index": "0"} and {m.key for m in logged.metrics} == {
        "train_accuracy",
        "train_loss",
    }
    assert logged.artifact_location.endswith(f"models/{fast.model_id}/artifacts")
    found = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    assert {m.model_id for m in found} == {fast.model_id, public.model_id}
    assert [r.info.run_id for r in client.search_runs([experiment_id], "metrics.train_accuracy = 0.75")] != []


def test_a_store_of_another_schema_takes_the_public_calls(store):
    client, experiment_id = store
    path = fast_store(client.tracking_uri)
    connection = sqlite3.connect(path)
    [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    model_run_sqlite._schema_revision.cache_clear()
    connection.execute("UPDATE alembic_version SET version_num = 'an-mlflow-to-come'")
    connection.commit()
    try:
        assert fast_store(client.tracking_uri) is None
        run = open_run(client, experiment_id, TAGS, model_name="model")
        assert type(run) is ModelRun
    finally:
        connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.commit()
        connection.close()
        model_run_sqlite._schema_revision.cache_clear()


def test_a_failed_write_leaves_nothing_and_names_the_store(store, monkeypatch):
    client, experiment_id = store
    run = open_run(client, experiment_id, TAGS)
    assert isinstance(run, SqlModelRun)
    # another writer holds the lock past the wait: the transaction rolls back whole
    monkeypatch.setattr("mlflow_qc.run.model_run_sqlite._BUSY_TIMEOUT_MS", 50)
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
    run.end("FINISHED", [Metric("train_accuracy", 0.5, 0, 0)], [Param("C", "1")])  # the connection still works
    assert client.get_run(run.run_id).data.metrics == {"train_accuracy": 0.5}


def test_a_key_mlflow_would_refuse_gets_mlflows_own_error(store, way):
    client, experiment_id = store
    run = open_run(client, experiment_id, TAGS)
    with pytest.raises(MlflowException):
        run.end("FINISHED", [Metric("bad key!", 0.5, 0, 0)])


def test_fold_runs_closed_together_read_as_closed_apart(store, way):
    client, experiment_id = store
    runs = [client.create_run(experiment_id).info.run_id for _ in range(3)]
    aggregates = [Metric("fold_validation_accuracy_mean", 0.5, 0, 0)]
    finish_runs(
        client,
        [Closing(run_id, "FINISHED", aggregates, [Param("fold_index", str(i))]) for i, run_id in enumerate(runs)],
    )
    for i, run_id in enumerate(runs):
        run = client.get_run(run_id)
        assert (run.info.status, run.data.metrics, run.data.params) == (
            "FINISHED",
            {"fold_validation_accuracy_mean": 0.5},
            {"fold_index": str(i)},
        )


def test_a_run_closing_again_takes_mlflows_own_update(store, way):
    client, experiment_id = store
    run_id = client.create_run(experiment_id).info.run_id
    client.log_batch(
        run_id, metrics=[Metric("fold_validation_accuracy_mean", 0.1, 0, 0)], params=[Param("fold_index", "0")]
    )
    finish_runs(
        client,
        [Closing(run_id, "FINISHED", [Metric("fold_validation_accuracy_mean", 0.5, 1, 0)], [Param("fold_index", "0")])],
    )
    run = client.get_run(run_id)
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"fold_validation_accuracy_mean": 0.5})
    assert len(client.get_metric_history(run_id, "fold_validation_accuracy_mean")) == 2


def test_the_run_tree_trains_the_same_both_ways(setting, way):
    """Every finished model run of a tree has one logged model (its ``model/``, READY) with the run's params
    and split metrics, whichever way the runs were written."""
    from mlflow_qc.run.worker import train_model
    from mlflow_qc.serve.packaging import PyfuncPackaging

    client = setting[2]
    tasks, env = planned(setting, [PyfuncPackaging()])
    records = [train_model(task, env) for task in tasks[:2]]
    assert [r.status for r in records] == ["FINISHED", "FINISHED"]
    for record in records:
        run = client.get_run(record.run_id)
        [output] = run.outputs.model_outputs
        model = client.get_logged_model(output.model_id)
        assert (model.source_run_id, model.status, model.name) == (record.run_id, LoggedModelStatus.READY, "model")
        assert model.params == run.data.params
        assert {m.key: m.value for m in model.metrics} == record.metrics
        assert run.data.tags["qc.model_uri"] == f"models:/{model.model_id}"
        loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
        assert loaded.metadata.model_id == model.model_id and loaded.metadata.run_id == record.run_id
