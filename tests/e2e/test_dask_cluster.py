"""``trainer.backend: dask`` end to end: a real ``mlflow server`` on loopback, ``mlflow run``, a
LocalCluster of 2 worker processes and a hand-started ``dask scheduler`` + 2 ``dask worker``s.

The workload is bench/train_overhead.py's (LogisticRegression over C, folds x repeats): the local-cluster
comparison on a tenth of its rows (2,000 x 32) and a 12-model grid (2 values of C, 3 folds x 2 repeats: the
tree, names, params, tags and metrics are what it tests, and every identity has a fold and a repeat), the
killed client and worker on the bench's whole 40-model grid and all 20,000 rows (the cluster must still have
models to train when the client is killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from bench.train_overhead import FOLDS, make_data
from bench.train_overhead import recipe as bench_recipe
from tests.helpers import background_server, free_port, mlflow_run_args, mlflow_server, ready_store

pytestmark = pytest.mark.e2e

TIMING = ("fit_seconds",)  # the only metric that may differ between two trainings of one recipe


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """One tracking server for the session: sqlite behind it, artifacts served over HTTP."""
    root = tmp_path_factory.mktemp("tracking-server")
    ready_store(root / "server.db")  # the server skips MLflow's migrations
    with mlflow_server(
        f"sqlite:///{root / 'server.db'}", root, root / "server.log", artifacts=root / "artifacts"
    ) as url:
        yield url


@pytest.fixture
def bench_project(workspace, tracking_server, monkeypatch):
    """The workspace with a writer of the benchmark's data (``rows`` of it) and recipe; MLflow talks to
    the server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)

    def write(name: str, rows: int, combos: int = 4, folds: int = FOLDS, **trainer) -> os.PathLike:
        data = workspace / "data" / "bench.parquet"
        if not data.exists():  # one table per test: its recipes train on the same bytes
            make_data(data, rows=rows)
        recipe = bench_recipe(combos)
        recipe["data"]["stratifier"]["fold_count"] = folds
        recipe["trainer"].update(trainer)
        path = workspace / "recipes" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(recipe))
        return path

    return write


def launch(experiment: str, recipe) -> subprocess.Popen:
    """``mlflow run`` of the project in its own process group (so it can be killed whole)."""
    args = mlflow_run_args(experiment, recipe)
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, seconds: float = 600) -> None:
    output, _ = process.communicate(timeout=seconds)
    assert process.returncode == 0, output[-4000:]


def tree(experiment: str) -> dict[str, list]:
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], max_results=5000)
    levels: dict[str, list] = {}
    for run in runs:
        levels.setdefault(run.data.tags["qc.level"], []).append(run)
    return levels


def finished_models(experiment: str) -> int:
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return 0
    query = "tags.`qc.level` = 'model' and attributes.status = 'FINISHED'"
    return len(client.search_runs([found.experiment_id], query, max_results=5000))


def wait_for(condition, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the run ended first:\n{process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.3)


def identity(run) -> tuple:
    tags = run.data.tags
    return tags["qc.job_key"], tags.get("qc.fold_index"), tags["qc.repeat_index"]


def by_identity(levels, level: str) -> dict:
    key = {
        "model": identity,
        "fold": lambda r: (r.data.tags["qc.job_key"], r.data.tags["qc.fold_index"]),
        "job": lambda r: r.data.tags["qc.job_key"],
    }[level]
    runs = {key(run): run for run in levels[level]}
    assert len(runs) == len(levels[level]), f"two {level} runs of one identity"
    return runs


def grid(recipe) -> dict[str, int]:
    """Runs per level of a bench recipe's tree: a job per value of C, its folds, a model per fold and repeat."""
    spec = yaml.safe_load(Path(recipe).read_text())
    jobs = len(spec["model"]["hyperparameters"]["C"])
    folds = jobs * spec["data"]["stratifier"]["fold_count"]
    return {"experiment": 1, "job": jobs, "fold": folds, "model": folds * spec["trainer"]["repeat_count"]}


def assert_complete_tree(levels, recipe) -> None:
    shape = grid(recipe)
    assert {level: len(levels.get(level, [])) for level in shape} == shape
    assert len(by_identity(levels, "model")) == shape["model"]
    assert {r.info.status for runs in levels.values() for r in runs} == {"FINISHED"}


def test_a_local_cluster_gives_the_run_tree_and_metrics_of_local(bench_project):
    local_recipe = bench_project("local", 2_000, combos=2, folds=3, backend="local", n_jobs=1)
    finish(launch("on-local", local_recipe))
    dask_recipe = bench_project("dask", 2_000, combos=2, folds=3, backend="dask", n_jobs=2)
    finish(launch("on-dask", dask_recipe))

    reference, distributed = tree("on-local"), tree("on-dask")
    assert grid(dask_recipe) == grid(local_recipe) == {"experiment": 1, "job": 2, "fold": 6, "model": 12}
    assert_complete_tree(reference, local_recipe)
    assert_complete_tree(distributed, dask_recipe)
    for level in ("job", "fold", "model"):
        expected, actual = by_identity(reference, level), by_identity(distributed, level)
        assert set(expected) == set(actual)
        for key, run in expected.items():
            other = actual[key]
            assert other.info.run_name == run.info.run_name and other.data.params == run.data.params
            same_tags = {k: v for k, v in run.data.tags.items() if k.startswith("qc.") and k not in ("qc.model_uri",)}
            assert {k: other.data.tags.get(k) for k in same_tags} == same_tags
            metrics = {k: v for k, v in run.data.metrics.items() if k not in TIMING and not k.startswith("fit_seconds")}
            assert set(metrics) <= set(other.data.metrics) and len(metrics) > 10
            for name, value in metrics.items():
                assert other.data.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (level, key, name)
    model = distributed["model"][0]
    assert model.data.tags["qc.model_uri"].startswith("models:/m-")  # its MLflow 3 logged model
    artifacts = {a.path for a in MlflowClient().list_artifacts(model.info.run_id, "qc")}
    assert "qc/predictions.parquet" in artifacts  # logged by a worker through the server

    tables = []
    for levels in (reference, distributed):
        [experiment] = levels["experiment"]
        path = mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/metrics.csv")
        tables.append(
            pd.read_csv(path).drop(columns=["run_id", *[c for c in pd.read_csv(path).columns if "seconds" in c]])
        )
    pd.testing.assert_frame_equal(tables[0], tables[1], rtol=1e-9)


@contextmanager
def hand_started_cluster(root):
    """``dask scheduler`` and two ``dask worker``s, each its own process, loopback only; yields the address
    and a client of it. The scheduler retries a lost worker's task once, as a local cluster does."""
    from distributed import Client

    root.mkdir()
    port, dashboard = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    env.pop("MLFLOW_TRACKING_URI")  # workers learn the tracking URI from the client
    with ExitStack() as stack:
        stack.enter_context(
            background_server(
                [
                    "dask",
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dashboard-address",
                    f"127.0.0.1:{dashboard}",
                ],
                f"http://127.0.0.1:{dashboard}/health",
                root / "scheduler.log",
                root,
                env,
            )
        )
        for name in ("a", "b"):
            (root / name).mkdir()
            health = free_port()
            stack.enter_context(
                background_server(
                    [
                        "dask",
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--name",
                        name,
                        "--dashboard-address",
                        f"127.0.0.1:{health}",
                        "--local-directory",
                        str(root / name),
                    ],
                    f"http://127.0.0.1:{health}/health",
                    root / f"worker-{name}.log",
                    root / name,
                    env,
                )
            )
        client = stack.enter_context(Client(address, timeout=30))
        client.wait_for_workers(2, timeout=60)
        yield address, client


def test_a_hand_started_cluster_survives_a_killed_client_and_a_killed_worker(bench_project, tmp_path):
    with hand_started_cluster(tmp_path / "cluster") as (address, cluster):
        recipe = bench_project("remote", 20_000, backend="dask", address=address)
        first = launch("remote", recipe)
        wait_for(lambda: finished_models("remote") >= 12, first)
        os.killpg(first.pid, signal.SIGKILL)  # the client; the cluster goes on
        first.wait()
        killed_at = finished_models("remote")
        assert 12 <= killed_at < grid(recipe)["model"] == 40

        second = launch("remote", recipe)
        wait_for(lambda: finished_models("remote") >= killed_at + 8, second)
        pids = cluster.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)  # one worker process; its nanny starts another
        finish(second)
        assert len(cluster.run(os.getpid)) == 2 and set(cluster.run(os.getpid).values()) != set(pids.values())

    levels = tree("remote")
    assert_complete_tree(levels, recipe)
    [experiment] = levels["experiment"]
    reused = sum(r.info.start_time < experiment.info.start_time for r in levels["model"])
    assert reused >= killed_at  # kept from the killed run: each (job, fold, repeat) has one finished model
    assert {r.data.tags["mlflow.parentRunId"] for r in levels["job"]} == {experiment.info.run_id}
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/metrics.csv")
    )
    assert set(table["run_id"]) == {r.info.run_id for r in levels["model"]}
    client = MlflowClient()
    discarded = client.search_runs([experiment.info.experiment_id], "tags.`qc.level` = 'model'", ViewType.DELETED_ONLY)
    assert any(r.info.start_time > experiment.info.start_time for r in discarded)  # the lost worker's attempt
