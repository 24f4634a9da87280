"""Resuming an interrupted tree (job runs taken over, one finished model kept per (job, fold, repeat)) and
counting other trees' finished models by reference without touching them (README: "The run tree")."""

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
    FINISHED,
    HOST,
    JOB_INDEX,
    KILLED,
    LAUNCHER_PID,
    LAUNCHER_STARTED,
    PARENT,
    PID,
    PID_STARTED,
    RECIPE_KEY,
    REUSED_MODELS,
    RUNNING,
    TEST_REVEALED,
)
from mlflow_qc.tracking.queries import model_runs_below
from tests.run.conftest import experiment_run, new_tree, tasks_of

JOB = Job(0, {"C": 1.0})


def model_run(client, experiment_id, tree, task, status):
    run = client.create_run(experiment_id, tags=model_tags(tree.resume_key, task))
    if status != RUNNING:
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def earlier_tree(client, experiment_id, **tags):
    """An interrupted tree of the recipe "recipe-1": 4 model tasks, one finished twice (a resumed tree can
    hold a duplicate after a kill), one failed, one still RUNNING, one never started."""
    tree = RunTree(
        client,
        experiment_id,
        experiment_run(client, experiment_id, "key-1", **{RECIPE_KEY: "recipe-1", **tags}),
        "key-1",
    )
    first, second, third, _ = tasks_of(tree, JOB)
    runs = {
        "kept": model_run(client, experiment_id, tree, first, FINISHED),
        "duplicate": model_run(client, experiment_id, tree, first, FINISHED),
        "failed": model_run(client, experiment_id, tree, second, "FAILED"),
        "running": model_run(client, experiment_id, tree, third, RUNNING),
    }
    return tree, runs


def test_resuming_an_interrupted_tree_keeps_one_finished_model_per_identity_and_discards_the_rest(store):
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")

    adopted_from = tree.adopt([Job(3, {"C": 1.0})], "recipe-1")

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
    assert (
        client.get_run(earlier.root_run_id).info.lifecycle_stage == "deleted"
    )  # its jobs moved: nothing left below it
    assert tree.referenced == {}


def snapshot(client, experiment_id):
    """Every run of the experiment as it stands: lifecycle, status, tags, metrics."""
    runs = client.search_runs([experiment_id], run_view_type=3, max_results=1000)
    return {r.info.run_id: (r.info.lifecycle_stage, r.info.status, r.data.tags, r.data.metrics) for r in runs}


def finished_tree(client, experiment_id, recipe_key="recipe-1", **tags):
    """A finished tree: 4 finished models of JOB (2 folds x 2 repeats), every run FINISHED."""
    tree = RunTree(
        client,
        experiment_id,
        experiment_run(client, experiment_id, "key-1", **{RECIPE_KEY: recipe_key, **tags}),
        "key-1",
    )
    models = [model_run(client, experiment_id, tree, task, FINISHED) for task in tasks_of(tree, JOB)]
    for run_id in [*tree.fold_runs.values(), *tree.job_runs.values(), tree.root_run_id]:
        client.set_terminated(run_id, FINISHED)
    return tree, models


@pytest.mark.parametrize("recipe_key", ["recipe-1", "recipe-2"])
def test_a_finished_tree_is_never_changed_and_its_models_are_counted_by_reference(store, recipe_key):
    """The same recipe rerun after it finished, or a changed one: a tree of its own either way."""
    client, experiment_id = store
    earlier, models = finished_tree(client, experiment_id)
    before = snapshot(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")

    assert tree.adopt([JOB], recipe_key) == []

    after = snapshot(client, experiment_id)
    assert {run_id: after[run_id] for run_id in before} == before
    assert tree.job_runs == {} and tree.fold_runs == {}  # its job and fold runs will be its own
    assert sorted(run.info.run_id for run in tree.finished.values()) == sorted(models)
    assert set(tree.referenced) == set(models) and tree.reused_from == [earlier.root_run_id]


def test_counted_models_are_below_the_new_job_run_and_only_there(store):
    """model_runs_below follows the tree (parents and qc.reused_models), not every run of the resume key."""
    client, experiment_id = store
    earlier, models = finished_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")
    tree.adopt([JOB], "recipe-2")
    tasks = tasks_of(tree, JOB, repeats=3)  # a repeat more: 2 folds x 1 new model, the rest counted
    for task in tasks:
        done = tree.finished.get(task.identity)
        if done is None:
            model_run(client, experiment_id, tree, task, FINISHED)
    for (_, fold), fold_run in tree.fold_runs.items():
        tree.reference(fold_run, [r.info.run_id for (_, f, _), r in tree.finished.items() if f == fold])

    job = client.get_run(tree.job_run(JOB))
    below = {r.info.run_id for r in model_runs_below(client, job)}
    assert len(below) == 6 and set(models) < below
    assert {r.info.run_id for r in model_runs_below(client, client.get_run(tree.root_run_id))} == below
    assert {r.info.run_id for r in model_runs_below(client, client.get_run(earlier.job_runs[JOB.key]))} == set(models)
    fold_0 = client.get_run(tree.fold_runs[(JOB.key, 0)])
    assert len(fold_0.data.tags[REUSED_MODELS].split(",")) == 2 and len(model_runs_below(client, fold_0)) == 3


def test_a_finalized_tree_is_never_resumed_and_with_hide_test_nothing_is_reused(store):
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id, **{TEST_REVEALED: "2026-01-01 by me"})
    for run_id in [runs["running"], *earlier.job_runs.values(), *earlier.fold_runs.values()]:
        client.set_terminated(run_id, KILLED)
    client.set_terminated(earlier.root_run_id, "FAILED")  # not FINISHED, yet finalized: never taken over
    before = snapshot(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")
    assert tree.adopt([JOB], "recipe-1", reuse_elsewhere=False) == []
    assert tree.finished == {} and tree.job_runs == {}
    assert {run_id: snapshot(client, experiment_id)[run_id] for run_id in before} == before


def test_runs_another_tree_left_running_end_killed_and_stay(store):
    """A changed recipe after a kill: the dead tree's RUNNING runs end KILLED; nothing of it is deleted or moved."""
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-1"), "key-1")
    assert tree.adopt([JOB], "recipe-2") == []
    for run_id in [*runs.values(), earlier.root_run_id, *earlier.job_runs.values(), *earlier.fold_runs.values()]:
        run = client.get_run(run_id)
        assert run.info.lifecycle_stage == "active" and run.info.status != RUNNING, run_id
        assert run.data.tags.get(PARENT) in (
            None,
            earlier.root_run_id,
            *earlier.job_runs.values(),
            *earlier.fold_runs.values(),
        )
    assert tree.finished[(JOB.key, 0, 0)].info.run_id in (runs["kept"], runs["duplicate"])


def test_a_tree_of_another_recipe_is_left_alone(store):
    client, experiment_id = store
    earlier, runs = earlier_tree(client, experiment_id)
    tree = RunTree(client, experiment_id, experiment_run(client, experiment_id, "key-2"), "key-2")
    assert tree.adopt([JOB], "recipe-1") == []
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
    tree.adopt([JOB], "recipe-1")  # the owner is gone: its RUNNING run is ended
    assert client.get_run(busy).info.status == KILLED


def test_under_mlflow_run_the_launcher_is_recorded_beside_the_trainer():
    """The launcher is the nearest ancestor not handed the run's id (`mlflow run` -> bash -> trainer)."""
    script = "import json; from mlflow_qc.run.tree import owner_tags; print(json.dumps(owner_tags()))"
    env = {**os.environ, "MLFLOW_RUN_ID": "launched-run"}
    shown = subprocess.run(
        ["bash", "-c", f"{sys.executable} -c '{script}'; true"], env=env, capture_output=True, text=True, check=True
    )
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
        tags = {
            PID: str(trainer.pid),
            PID_STARTED: "0",
            HOST: socket.gethostname(),
            LAUNCHER_PID: str(launcher.pid),
            LAUNCHER_STARTED: str(int(psutil.Process(launcher.pid).create_time())),
        }
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
