"""Server time of the QC pages' experiment list and tracker on experiments of 400 models.

The store holds what the trainer writes for a grid of 40 jobs x 5 folds x 2 repeats (the tags, params
and metrics of every run: 28 split metrics, train_seconds and 10 importance metrics per model run,
140 aggregates per job run, and the experiment run's ``qc/progress.csv`` written by the trainer's own
``log_progress``), written with the MLflow client (training 800 models would take 5 minutes and
measure the trainer): one finished experiment of 400 models (4 failed, with their error line), one
running (390 back, 10 running: before each poll one running model finishes and the next starts, as
in a training, and the progress file is not rewritten, so each poll has one more run to ask the store
for) and 30 small experiment runs beside them.

A real ``mlflow-qc ui`` (``mlflow server --app-name qc``, uvicorn, one worker) serves the store;
each page is asked once cold (the first read of that tree by the worker) and then ``--polls``
times; the server time is the pages' own ``Server-Timing`` header (routing to response, the
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
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
JOBS, FOLDS, REPEATS = 40, 5, 2
SPLITS = ("train", "fold_validation", "validation", "test")
SCORES = ("accuracy", "f1", "precision", "recall", "roc_auc", "loss", "seconds")
COLUMNS = [f"x{i}" for i in range(10)]


def write_tree(client, experiment_id: str, name: str, running: bool, failed: int) -> tuple[str, list[str]]:
    """An experiment run and its 400 model runs as the trainer leaves them; returns the run id and the running models."""
    from mlflow.entities import Metric, Param, RunTag

    from mlflow_qc.run.plan import Job, ModelRecord, ModelTask
    from mlflow_qc.run.summary import log_progress

    key = f"bench-{name}"
    now = int(time.time() * 1000)
    root = client.create_run(experiment_id, run_name=name, tags={
        "qc.level": "experiment", "qc.resume_key": key, "qc.models_planned": str(JOBS * FOLDS * REPEATS),
        "qc.models_finished": "0", "qc.models_failed": "0", "qc.ranking_metric": "fold_validation_accuracy",
        "qc.pid": str(os.getpid()), "qc.host": socket.gethostname(), "qc.page": f"/qc/experiment/{name}"})
    root_id = root.info.run_id
    left_running, count, records, job_runs = [], 0, [], {}
    for job in range(JOBS):
        spec = Job(job, {"C": 0.01 * (job + 1), "max_iter": 200})
        job_run = client.create_run(experiment_id, run_name=f"job {job}", tags={
            "qc.level": "job", "qc.resume_key": key, "qc.job_key": spec.key, "qc.job_index": str(job),
            "mlflow.parentRunId": root_id, "qc.refit": "false"})
        job_runs[spec.key] = job_run.info.run_id
        aggregates = [Metric(f"{s}_{m}_{stat}", 0.5, now, 0) for s in SPLITS for m in SCORES
                      for stat in ("mean", "median", "std", "min", "max")]
        client.log_batch(job_run.info.run_id, metrics=aggregates, params=[Param("C", str(0.01 * (job + 1))), Param("max_iter", "200")])
        for fold in range(FOLDS):
            for repeat in range(REPEATS):
                count += 1
                run = client.create_run(experiment_id, run_name=f"model job {job} fold {fold} repeat {repeat}", tags={
                    "qc.level": "model", "qc.resume_key": key, "qc.job_key": spec.key, "qc.job_index": str(job),
                    "qc.fold_index": str(fold), "qc.repeat_index": str(repeat), "mlflow.parentRunId": job_run.info.run_id})
                run_id = run.info.run_id
                task = ModelTask(spec, f"fold_{fold}", fold, repeat, 1000 + fold, job_run.info.run_id)
                if running and count > JOBS * FOLDS * REPEATS - 10:
                    left_running.append(run_id)
                    continue
                if count <= failed:
                    error = f"ValueError: model {count} refused its data"
                    client.log_batch(run_id, tags=[RunTag("qc.error", error)])
                    client.set_terminated(run_id, "FAILED")
                    records.append(ModelRecord(task, run_id, "FAILED", {}, error=f"Traceback ...\n{error}"))
                    continue
                records.append(ModelRecord(task, run_id, "FINISHED", finish(client, run_id, job, fold, repeat, now), seconds=0.2))
        if not running or job < JOBS - 1:
            client.set_terminated(job_run.info.run_id, "FINISHED")
    log_progress(client, root_id, records, job_runs)
    client.log_batch(root_id, tags=[RunTag("qc.models_finished", str(count - len(left_running) - failed)),
                                    RunTag("qc.models_failed", str(failed)), RunTag("qc.progress_at", str(int(time.time() * 1000))),
                                    RunTag("qc.training_started", str(now))])
    if not running:
        client.set_terminated(root_id, "FINISHED")
    return root_id, left_running


def finish(client, run_id: str, job: int, fold: int, repeat: int, now: int) -> dict[str, float]:
    """Log a model run's metrics, params and tags and end it FINISHED; returns its split metrics."""
    from mlflow.entities import Metric, Param, RunTag

    score = 0.6 + 0.3 * ((job * 7 + fold * 3 + repeat) % 10) / 10
    metrics = [Metric(f"{s}_{m}", score, now, 0) for s in SPLITS for m in SCORES]
    metrics += [Metric(f"importance_{c}", 0.01 * i, now, 0) for i, c in enumerate(COLUMNS)]
    params = [Param("C", str(0.01 * (job + 1))), Param("max_iter", "200"), Param("fold_index", str(fold)),
              Param("repeat_index", str(repeat)), Param("seed", str(1000 + fold))]
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
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    from tests.helpers import background_server, free_port

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        client = MlflowClient(uri)
        started = time.perf_counter()
        done_id, _ = write_tree(client, client.create_experiment("bench-finished"), "finished", running=False, failed=4)
        live_id, running = write_tree(client, client.create_experiment("bench-running"), "running", running=True, failed=0)
        small = client.create_experiment("bench-small")
        for index in range(30):
            run = client.create_run(small, run_name=f"small {index}", tags={"qc.level": "experiment", "qc.models_planned": "6"})
            client.set_terminated(run.info.run_id, "FINISHED")
        print(f"store written in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "mlflow_qc.cli", "ui", "--port", str(port), "--backend-store-uri", uri]
        with background_server(command, f"{base}/health", Path(tmp, "server.log"), Path(tmp)):
            rows = []
            pages = [("list page `/qc/`", "/qc/", None), ("list JSON", "/qc/api/experiments", None),
                     ("tracker page, finished, 400 models", f"/qc/experiment/{done_id}", None),
                     ("tracker JSON, finished, 400 models", f"/qc/api/experiment/{done_id}", None),
                     ("tracker JSON, running, 400 models", f"/qc/api/experiment/{live_id}", running)]
            for label, path, progress in pages:
                cold = timed(base + path)
                server, wall = [], []
                for poll in range(args.polls):
                    if progress:  # one running model finishes, the next one starts
                        finish(client, progress.pop(0), JOBS - 1, 4, 1, int(time.time() * 1000))
                        progress.append(client.create_run(client.get_run(live_id).info.experiment_id, tags={
                            "qc.level": "model", "qc.resume_key": "bench-running", "qc.job_index": str(JOBS - 1),
                            "qc.repeat_index": "1"}).info.run_id)
                    s, w = timed(base + path)
                    server.append(s)
                    wall.append(w)
                rows.append((label, cold, server, wall))
        load = os.getloadavg()[0]
    print("| page | cold: server ms (wall) | polls: median server ms | p90 | max | median wall ms |")
    print("|---|---|---|---|---|---|")
    for label, cold, server, wall in rows:
        ordered = sorted(server)
        print(f"| {label} | {cold[0]:.0f} ({cold[1]:.0f}) | {statistics.median(server):.0f} | "
              f"{ordered[int(0.9 * (len(ordered) - 1))]:.0f} | {max(server):.0f} | {statistics.median(wall):.0f} |")
    print(f"\n1-minute load average at the end: {load:.1f} on {os.cpu_count()} cores", file=sys.stderr)


if __name__ == "__main__":
    main()
