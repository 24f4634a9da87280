"""Server time of the QC pages' experiment list and tracker on experiments of 400 models.

The store holds what the trainer writes for a grid of 40 jobs x 5 folds x 2 repeats (the tags, params
and metrics of every run: 28 split metrics, fit_seconds and 10 importance metrics per model run,
140 aggregates per job run, and the experiment run's ``qc/progress.csv`` written by the trainer's own
``log_progress``), written with the MLflow client (training 800 models would take 5 minutes and
measure the trainer): one finished experiment of 400 models (4 failed, with their error line), one
running (390 back, 10 running: before each round of requests one running model finishes, the next
starts and the progress file is rewritten, as a training does every 2 s) and 30 small experiment
runs beside them.

A real ``mlflow-qc ui`` (``mlflow server --app-name qc``, uvicorn, one worker) serves the store;
30 s after it answers (MLflow starts its job runner meanwhile), each page is asked once (the first
request of each page to the fresh worker), then all of them in turn ``--polls`` times; the server time is the pages' own ``Server-Timing`` header (routing to response, the
MLflow store reads included), the wall time is the client's.

    python bench/pages.py                   # prints the Markdown table
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
JOBS, FOLDS, REPEATS = 40, 5, 2
SPLITS = ("train", "fold_validation", "validation", "test")
SCORES = ("accuracy", "f1", "precision", "recall", "roc_auc", "loss", "seconds")
COLUMNS = [f"x{i}" for i in range(10)]
SETTLE_SECONDS = 30  # mlflow server starts its job runner (another process importing mlflow) in its first ~20 s


@dataclass
class Tree:
    """One experiment run's tree as the trainer keeps it: the records back, the models running."""

    experiment_id: str
    root_id: str
    key: str
    records: list
    job_runs: dict
    running: list  # (run id, task)

    def step(self, client) -> None:
        """What a training does in two seconds: a running model comes back, the next one starts, the
        progress file and counts are rewritten."""
        from mlflow.entities import RunTag

        from mlflow_qc.run.plan import ModelRecord
        from mlflow_qc.run.summary import log_progress

        run_id, task = self.running.pop(0)
        metrics = finish(client, run_id, task.job.index, task.fold_index, task.repeat_index, int(time.time() * 1000))
        self.records.append(ModelRecord(task, run_id, "FINISHED", metrics, seconds=0.2))
        self.running.append(
            (start_model(client, self.experiment_id, self.key, task, self.job_runs[task.job.key]), task)
        )
        log_progress(client, self.root_id, self.records, self.job_runs)
        client.log_batch(
            self.root_id,
            tags=[
                RunTag("qc.models_finished", str(len(self.records))),
                RunTag("qc.progress_at", str(int(time.time() * 1000))),
            ],
        )


def start_model(client, experiment_id: str, key: str, task, parent: str) -> str:
    fold, repeat = task.fold_index, task.repeat_index
    return client.create_run(
        experiment_id,
        run_name=f"model job {task.job.index} fold {fold} repeat {repeat}",
        tags={
            "qc.level": "model",
            "qc.resume_key": key,
            "qc.job_key": task.job.key,
            "qc.job_index": str(task.job.index),
            "qc.fold_index": str(fold),
            "qc.repeat_index": str(repeat),
            "mlflow.parentRunId": parent,
        },
    ).info.run_id


def write_tree(client, experiment_id: str, name: str, running: bool, failed: int) -> Tree:
    """An experiment run and its 400 model runs as the trainer leaves them (the last 10 still running if ``running``)."""
    from mlflow.entities import Metric, Param, RunTag

    from mlflow_qc.run.plan import Job, ModelRecord, ModelTask
    from mlflow_qc.run.summary import log_progress

    key = f"bench-{name}"
    now = int(time.time() * 1000)
    root = client.create_run(
        experiment_id,
        run_name=name,
        tags={
            "qc.level": "experiment",
            "qc.resume_key": key,
            "qc.models_planned": str(JOBS * FOLDS * REPEATS),
            "qc.models_finished": "0",
            "qc.models_failed": "0",
            "qc.ranking_metric": "fold_validation_accuracy",
            "qc.pid": str(os.getpid()),
            "qc.host": socket.gethostname(),
            "qc.page": f"/qc/experiment/{name}",
        },
    )
    root_id = root.info.run_id
    left_running, count, records, job_runs = [], 0, [], {}
    for job in range(JOBS):
        spec = Job(job, {"C": 0.01 * (job + 1), "max_iter": 200})
        job_run = client.create_run(
            experiment_id,
            run_name=f"job {job}",
            tags={
                "qc.level": "job",
                "qc.resume_key": key,
                "qc.job_key": spec.key,
                "qc.job_index": str(job),
                "mlflow.parentRunId": root_id,
                "qc.refit": "false",
            },
        )
        job_runs[spec.key] = job_run.info.run_id
        aggregates = [
            Metric(f"{s}_{m}_{stat}", 0.5, now, 0)
            for s in SPLITS
            for m in SCORES
            for stat in ("mean", "median", "std", "min", "max")
        ]
        client.log_batch(
            job_run.info.run_id,
            metrics=aggregates,
            params=[Param("C", str(0.01 * (job + 1))), Param("max_iter", "200")],
        )
        for fold in range(FOLDS):
            for repeat in range(REPEATS):
                count += 1
                task = ModelTask(spec, f"fold_{fold}", fold, repeat, 1000 + fold, job_run.info.run_id)
                run_id = start_model(client, experiment_id, key, task, job_run.info.run_id)
                if running and count > JOBS * FOLDS * REPEATS - 10:
                    left_running.append((run_id, task))
                    continue
                if count <= failed:
                    error = f"ValueError: model {count} refused its data"
                    client.log_batch(run_id, tags=[RunTag("qc.error", error)])
                    client.set_terminated(run_id, "FAILED")
                    records.append(ModelRecord(task, run_id, "FAILED", {}, error=f"Traceback ...\n{error}"))
                    continue
                records.append(
                    ModelRecord(task, run_id, "FINISHED", finish(client, run_id, job, fold, repeat, now), seconds=0.2)
                )
        if not running or job < JOBS - 1:
            client.set_terminated(job_run.info.run_id, "FINISHED")
    log_progress(client, root_id, records, job_runs)
    client.log_batch(
        root_id,
        tags=[
            RunTag("qc.models_finished", str(count - len(left_running) - failed)),
            RunTag("qc.models_failed", str(failed)),
            RunTag("qc.progress_at", str(int(time.time() * 1000))),
            RunTag("qc.training_started", str(now)),
        ],
    )
    if not running:
        client.set_terminated(root_id, "FINISHED")
    return Tree(experiment_id, root_id, key, records, job_runs, left_running)


def finish(client, run_id: str, job: int, fold: int, repeat: int, now: int) -> dict[str, float]:
    """Log a model run's metrics, params and tags and end it FINISHED; returns its split metrics."""
    from mlflow.entities import Metric, Param, RunTag

    score = 0.6 + 0.3 * ((job * 7 + fold * 3 + repeat) % 10) / 10
    metrics = [Metric(f"{s}_{m}", score, now, 0) for s in SPLITS for m in SCORES]
    metrics += [Metric(f"importance_{c}", 0.01 * i, now, 0) for i, c in enumerate(COLUMNS)] + [
        Metric("fit_seconds", 0.2, now, 0)
    ]
    params = [
        Param("C", str(0.01 * (job + 1))),
        Param("max_iter", "200"),
        Param("fold_index", str(fold)),
        Param("repeat_index", str(repeat)),
        Param("seed", str(1000 + fold)),
    ]
    client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("qc.model_uri", f"runs:/{run_id}/model")])
    client.set_terminated(run_id, "FINISHED")
    return {m.key: m.value for m in metrics if not m.key.startswith("importance_")}


def timed(url: str) -> tuple[float, float]:
    started = time.perf_counter()
    response = requests.get(url, timeout=120)
    wall = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return float(response.headers["Server-Timing"].split("dur=")[1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=30, help="rounds of requests after the first")
    parser.add_argument("--keep", default=None, help="write the store into this (new) folder and keep it")
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    from tests.helpers import background_server, free_port

    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{tmp}/mlflow.db"
        client = MlflowClient(uri)
        started = time.perf_counter()
        done_id = write_tree(
            client, client.create_experiment("bench-finished"), "finished", running=False, failed=4
        ).root_id
        live = write_tree(client, client.create_experiment("bench-running"), "running", running=True, failed=0)
        live_id = live.root_id
        small = client.create_experiment("bench-small")
        for index in range(30):
            run = client.create_run(
                small, run_name=f"small {index}", tags={"qc.level": "experiment", "qc.models_planned": "6"}
            )
            client.set_terminated(run.info.run_id, "FINISHED")
        print(f"store written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "mlflow_qc.cli", "ui", "--port", str(port), "--backend-store-uri", uri]
        with background_server(command, f"{base}/health", Path(tmp, "server.log"), Path(tmp)):
            pages = [
                ("list page `/qc/`", "/qc/"),
                ("list JSON", "/qc/api/experiments"),
                ("tracker page, finished, 400 models", f"/qc/experiment/{done_id}"),
                ("tracker JSON, finished, 400 models", f"/qc/api/experiment/{done_id}"),
                ("tracker page, running, 400 models", f"/qc/experiment/{live_id}"),
                ("tracker JSON, running, 400 models", f"/qc/api/experiment/{live_id}"),
            ]
            time.sleep(SETTLE_SECONDS)
            load = [os.getloadavg()[0]]
            cold = {label: timed(base + path) for label, path in pages}
            server = {label: [] for label, _ in pages}
            wall = {label: [] for label, _ in pages}
            for _ in range(args.polls):  # the pages take turns, so the machine's ups and downs fall on all of them
                live.step(client)
                for label, path in pages:
                    s, w = timed(base + path)
                    server[label].append(s)
                    wall[label].append(w)
            load.append(os.getloadavg()[0])
        rows = [(label, cold[label], server[label], wall[label]) for label, _ in pages]
    print("| page | first request: server ms (wall) | then: median server ms | p90 | max | median wall ms |")
    print("|---|---|---|---|---|---|")
    for label, first, times, walls in rows:
        ordered = sorted(times)
        print(
            f"| {label} | {first[0]:.0f} ({first[1]:.0f}) | {statistics.median(times):.0f} | "
            f"{ordered[int(0.9 * (len(ordered) - 1))]:.0f} | {max(times):.0f} | {statistics.median(walls):.0f} |"
        )
    print(
        f"\n1-minute load average {load[0]:.1f} before and {load[1]:.1f} after, {os.cpu_count()} cores", file=sys.stderr
    )


if __name__ == "__main__":
    main()
