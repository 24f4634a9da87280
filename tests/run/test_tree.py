"""Adopting an earlier tree: job runs re-parented, one finished model kept per (job, fold, repeat)."""
import json
import os
import socket
import subprocess
import sys

import psutil
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.run.plan import Job
from mlflow_qc.run.tree import RunTree, model_tags
from mlflow_qc.tracking.names import (
    FINISHED, HOST, JOB_INDEX, KILLED, LAUNCHER_PID, LAUNCHER_STARTED, PARENT, PID, PID_STARTED, RUNNING,
)
from tests.run.conftest import experiment_run, new_tree, tasks_of

JOB = Job(0, {"C": 1.0})


def model_run(client, experiment_id, tree, task, status):
    run = client.create_run(experiment_id, tags=model_tags(tree.resume_key, task))
    if status != RUNNING:
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def earlier_tree(client, experiment_id):
    """An interrupted tree: 4 model tasks, one finished twice (a resumed tree can hold a
    duplicate after a kill), one failed, one still RUNNING, one never started."""
    tree = new_tree(client, experiment_id)
    first, second, third, _ = tasks_of(tree, JOB)
    runs = {
        "kept": model_run(client, experiment_id, tree, first, FINISHED),
        "duplicate": model_run(client, experiment_id, tree, first, FINISHED),
        "failed": model_run(client, experiment_id, tree, second, "FAILED"),
        "running": model_run(client, experiment_id, tree, third, RUNNING),
    }
    return tree, runs


def test_adopting_keeps_one_finished_model_per_identity_and_discards_the_rest(store):
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")

    adopted_from = tree.adopt([Job(3, {"C": 1.0})])

    assert adopted_from == [earlier.root_run_id]
    assert list(tree.finished) == [(JOB.key, 0, 0)]
    kept = tree.finished[(JOB.key, 0, 0)].info.run_id
    assert kept in (runs["kept"], runs["duplicate"])
    twin = runs["duplicate"] if kept == runs["kept"] else runs["kept"]
    job_run = client.get_run(tree.job_runs[JOB.key])
    assert job_run.data.tags[PARENT] == tree.root_run_id
    assert job_run.data.tags[JOB_INDEX] == "3"  # the job's index in the current grid
    assert set(tree.fold_runs) == {(JOB.key, 0), (JOB.key, 1)}
    for run_id in (twin, runs["failed"], runs["running"]):
        assert client.get_run(run_id).info.lifecycle_stage == "deleted", run_id
    assert client.get_run(runs["running"]).info.status == KILLED
    assert client.get_run(kept).info.lifecycle_stage == "active"
    assert client.get_run(earlier.root_run_id).info.lifecycle_stage == "deleted"  # its jobs moved: nothing left below it


def test_a_tree_of_another_recipe_is_left_alone(store):
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-2"), "key-2")
    assert tree.adopt([JOB]) == []
    assert tree.job_runs == {} and tree.finished == {}
    assert client.get_run(runs["duplicate"]).info.lifecycle_stage == "active"
    assert client.get_run(earlier.root_run_id).info.lifecycle_stage == "active"


def test_a_tree_whose_owner_still_runs_is_refused(store):
    client, experiment_id = store
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = str(int(psutil.Process(owner.pid).create_time()))
        tags = {PID: str(owner.pid), PID_STARTED: started, HOST: socket.gethostname()}
        busy = experiment_run(client, experiment_id, "key-1", **tags)
        tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")
        with pytest.raises(QCError, match=f"run {busy} of this recipe is still running \\(pid {owner.pid}\\)"):
            tree.adopt([JOB])
    finally:
        owner.kill()
        owner.wait()
    tree.adopt([JOB])  # the owner is gone: its RUNNING run is adopted and ended
    assert client.get_run(busy).info.status == KILLED


def test_under_mlflow_run_the_launcher_is_recorded_beside_the_trainer():
    """The launcher is the nearest ancestor not handed the run's id (`mlflow run` -> bash -> trainer)."""
    script = "import json; from mlflow_qc.run.tree import owner_tags; print(json.dumps(owner_tags()))"
    env = {**os.environ, "MLFLOW_RUN_ID": "launched-run"}
    shown = subprocess.run(["bash", "-c", f"{sys.executable} -c '{script}'; true"], env=env, capture_output=True, text=True, check=True)
    tags = json.loads(shown.stdout)
    assert tags[LAUNCHER_PID] == str(os.getpid()) != tags[PID]
    assert tags[LAUNCHER_STARTED] == str(int(psutil.Process().create_time()))
    env.pop("MLFLOW_RUN_ID")
    alone = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert LAUNCHER_PID not in json.loads(alone.stdout)


def test_a_tree_whose_trainer_exited_but_whose_launcher_runs_is_refused(store):
    """`mlflow run` ends its run after the trainer exits (which ended it FINISHED already): until then a
    rerun must not adopt (and delete) it."""
    client, experiment_id = store
    trainer = subprocess.Popen([sys.executable, "-c", "pass"])
    trainer.wait()
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tags = {PID: str(trainer.pid), PID_STARTED: "0", HOST: socket.gethostname(),
                LAUNCHER_PID: str(launcher.pid), LAUNCHER_STARTED: str(int(psutil.Process(launcher.pid).create_time()))}
        busy = experiment_run(client, experiment_id, "key-1", **tags)
        client.set_terminated(busy, FINISHED)
        with pytest.raises(QCError, match=f"run {busy} of this recipe is still running \\(pid {launcher.pid}\\)"):
            new_tree(client, experiment_id).adopt([JOB])
        assert client.get_run(busy).info.lifecycle_stage == "active"
    finally:
        launcher.kill()
        launcher.wait()


def test_ending_unfinished_runs_after_an_interrupt(store):
    client, experiment_id = store
    tree = new_tree(client, experiment_id)
    task = tasks_of(tree, JOB)[0]
    running = model_run(client, experiment_id, tree, task, RUNNING)
    tree.end_unfinished(KILLED)
    assert client.get_run(running).info.status == KILLED
    assert client.get_run(tree.job_run(JOB)).info.status == KILLED
    assert {client.get_run(r).info.status for r in tree.fold_runs.values()} == {KILLED}
    assert client.get_run(tree.root_run_id).info.status == RUNNING  # the root is ended by its owner
