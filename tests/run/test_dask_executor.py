"""The Dask executor on a real LocalCluster: the records of one process, the prepared arrays from
the cluster (not the client's cache path), lost workers retried once and then FAILED, one run
per model; and the checks that refuse a cluster before any run exists."""

import os
import signal
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.run import dask_executor as dx
from mlflow_qc.run.executor import execute
from mlflow_qc.run.observers import TrainingObserver
from mlflow_qc.run.tree import model_identity
from mlflow_qc.tracking.names import FAILED, FINISHED, MODEL, RUNNING
from mlflow_qc.tracking.queries import tree_runs
from tests.helpers import ready_store
from tests.run.conftest import planned


class WhereFrom(TrainingObserver):
    """Records where the worker read the prepared arrays and which process trained the model."""

    def model_finished(self, event):
        (event.folder / "where.txt").write_text(f"{event.entry.root}\n{os.getpid()}")


class LoseWorker(TrainingObserver):
    """Kills the worker process training job 1's model of fold 1: every time, or only the first
    time (a marker file, seen by every worker of this machine)."""

    def __init__(self, marker: Path | None = None):
        self.marker = marker

    def model_finished(self, event):
        if (event.task.job.index, event.task.fold_index) != (1, 1):
            return
        if self.marker is not None:
            if self.marker.exists():
                return
            self.marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)


def model_runs(client, env):
    return tree_runs(client, env.experiment_id, env.resume_key, MODEL)


def test_a_local_cluster_gives_the_records_of_one_process_from_its_own_copy_of_the_arrays(setting):
    client = setting[2]
    tasks, env = planned(setting)
    alone = {r.task.identity: r for r in execute(tasks, env, n_jobs=1)}
    tasks, env = planned(setting, [WhereFrom()])
    with dx.dask_executor(None, 2, env.tracking_uri) as executor:
        assert executor.slots == 2
        together = {r.task.identity: r for r in executor.execute(tasks, env)}
        assert len(executor._shipped) == 1 + 2  # the shared files once, each of the 2 folds once
    assert set(together) == set(alone) == {t.identity for t in tasks}
    for identity, record in together.items():
        assert record.status == FINISHED and record.metrics == alone[identity].metrics
        root, pid = mlflow.artifacts.load_text(f"runs:/{record.run_id}/where.txt").splitlines()
        assert Path(root) != Path(env.entry_root) and "qc-prepared" in root
        assert int(pid) != os.getpid()
    parents = {task.parent_run_id for task in tasks}
    assert len([r for r in model_runs(client, env) if r.data.tags["mlflow.parentRunId"] in parents]) == len(tasks)
    # the first tree's models (same resume key, same identities) are another tree's: none discarded as strays
    assert {r.info.run_id for r in model_runs(client, env)} >= {r.run_id for r in alone.values()}


def test_a_model_whose_worker_is_lost_runs_once_more(setting, tmp_path):
    client = setting[2]
    marker = tmp_path / "lost"
    tasks, env = planned(setting, [LoseWorker(marker)])
    with dx.dask_executor(None, 2, env.tracking_uri) as executor:
        records = list(executor.execute(tasks, env))
    assert marker.exists()  # its first worker was lost
    assert {r.status for r in records} == {FINISHED}
    runs = model_runs(client, env)
    assert sorted(model_identity(r) for r in runs) == sorted(t.identity for t in tasks)  # lost attempts discarded
    assert {r.info.run_id for r in runs} == {r.run_id for r in records}
    assert {r.info.status for r in runs} == {FINISHED}


def test_a_model_that_loses_its_worker_twice_is_failed_and_the_rest_finish(setting):
    client = setting[2]
    tasks, env = planned(setting, [LoseWorker()])
    with dx.dask_executor(None, 2, env.tracking_uri) as executor:
        records = {r.task.identity: r for r in executor.execute(tasks, env)}
    failed = [r for r in records.values() if r.status == FAILED]
    assert [(r.task.job.index, r.task.fold_index) for r in failed] == [(1, 1)]
    assert "KilledWorker" in failed[0].error and "tried once more" in failed[0].error
    assert len([r for r in records.values() if r.status == FINISHED]) == len(tasks) - 1
    runs = model_runs(client, env)
    assert len(runs) == len(tasks) and RUNNING not in {r.info.status for r in runs}
    run = client.get_run(failed[0].run_id)
    assert run.info.status == FAILED and run.data.tags["mlflow.parentRunId"] == failed[0].task.parent_run_id
    assert "KilledWorker" in mlflow.artifacts.load_text(f"runs:/{failed[0].run_id}/qc/error.txt")


def test_a_scheduler_by_address_needs_a_tracking_server():
    with pytest.raises(QCError, match=r"trainer.address: the tracking store sqlite:///x.db .* start `mlflow server`"):
        dx.check_tracking_store("sqlite:///x.db", "tcp://10.0.0.5:8786")
    with pytest.raises(QCError, match="not a server"):
        dx.check_tracking_store("/home/me/mlruns", "tcp://10.0.0.5:8786")
    dx.check_tracking_store("http://10.0.0.2:5000", "tcp://10.0.0.5:8786")
    dx.check_tracking_store("sqlite:///x.db", None)  # a local cluster shares this machine's store


def test_workers_on_other_machines_cannot_reach_a_loopback_tracking_server():
    with pytest.raises(QCError, match="listens on loopback, which the Dask worker tcp://10.0.0.7:4000 cannot reach"):
        dx.check_workers_reach(["tcp://127.0.0.1:3999", "tcp://10.0.0.7:4000"], "http://localhost:5000")
    dx.check_workers_reach(["tcp://127.0.0.1:3999", "tcp://[::1]:4000"], "http://127.0.0.1:5000")
    dx.check_workers_reach(["tcp://10.0.0.7:4000"], "http://10.0.0.2:5000")


def test_no_scheduler_at_the_address_is_one_line(monkeypatch):
    import dask

    from tests.helpers import free_port

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(
            QCError, match=r"trainer.address: no Dask scheduler answered at tcp://127.0.0.1:\d+ within 1"
        ):
            with dx.dask_executor(f"tcp://127.0.0.1:{free_port()}", 1, "http://127.0.0.1:5000"):
                pass


def test_without_distributed_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(
        QCError,
        match=r"trainer.backend: dask needs the packages dask and distributed; .*pip install 'mlflow-qc\[dask\]'",
    ):
        dx.require_distributed()


def test_a_scheduler_by_address_with_a_sqlite_store_starts_no_run(workspace):
    import yaml

    from mlflow_qc import Experiment, load_recipe
    from tests.run.conftest import IRIS

    path = workspace / "recipe.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **IRIS,
                "data": {**IRIS["data"], "inputs": [{"dataset": {"path": "data/iris.tsv"}}]},
                "trainer": {"backend": "dask", "address": "tcp://10.0.0.5:8786"},
            }
        )
    )
    with pytest.raises(QCError, match="trainer.address: the tracking store sqlite"):
        Experiment.from_recipe(load_recipe(path)).run()
    assert MlflowClient().search_runs([e.experiment_id for e in MlflowClient().search_experiments()]) == []


def test_tpe_proposes_one_combination_per_worker_at_a_time(workspace):
    import yaml

    from mlflow_qc import Experiment, load_recipe
    from tests.run.conftest import IRIS

    ready_store(workspace / "mlflow.db")  # skips MLflow's migrations
    path = workspace / "tpe.yaml"
    model = {**IRIS["model"], "hyperparameters": {"max_iter": [300]}}
    path.write_text(
        yaml.safe_dump(
            {
                **IRIS,
                "data": {**IRIS["data"], "inputs": [{"dataset": {"path": "data/iris.tsv"}}]},
                "model": model,
                "search": {"method": "tpe", "count": 4, "space": {"C": {"loguniform": [0.01, 10.0]}}},
                "trainer": {"backend": "dask", "n_jobs": 2},
            }
        )
    )
    result = Experiment.from_recipe(load_recipe(path)).run()
    assert result.finished == 4 * 2 and not result.failures
    client = MlflowClient()
    jobs = sorted(
        client.search_runs([result.experiment_id], "tags.`qc.level` = 'job'"),
        key=lambda r: int(r.data.tags["qc.job_index"]),
    )
    assert len({r.data.params["C"] for r in jobs}) == 4
    overlap = lambda a, b: b.info.start_time < a.info.end_time  # noqa: E731 (b opened before a closed)
    assert overlap(jobs[0], jobs[1]) and overlap(jobs[2], jobs[3])  # proposed and trained together
    assert not overlap(jobs[1], jobs[2])  # the next pair waits for the losses of the first


def test_an_entry_packed_and_unpacked_elsewhere_has_the_same_files(setting, tmp_path):
    from mlflow_qc.cache import CacheEntry, pack, unpack

    root = setting[1].entry.root
    copy = tmp_path / "elsewhere" / root.name
    unpack(pack(root), copy)
    for context in CacheEntry(root).contexts:
        unpack(pack(root, context), copy)
        unpack(pack(root, context), copy)  # a second time: already there, left alone
    original = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    copied = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file() and p.name != "complete"}
    assert copied == {path: data for path, data in original.items() if path.name != "complete"}
    assert (
        CacheEntry(copy).load("fold_1", "train").features[0].shape
        == CacheEntry(root).load("fold_1", "train").features[0].shape
    )
