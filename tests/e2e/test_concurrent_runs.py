"""Two commands at once on one recipe and experiment: the second is refused in one line and the
tree ends exact; the same when both start on a tracking store that does not exist yet."""

from __future__ import annotations

import os
import subprocess
import time

import mlflow
import pytest

from tests.e2e.test_resume_and_failures import sklearn_recipe, write
from tests.helpers import held_training, mlflow_run, mlflow_run_args, runs_by_level

pytestmark = pytest.mark.e2e

JOBS, FOLDS, REPEATS = 2, 4, 2


def forest(workspace, n_estimators=(5, 10)):
    return write(
        workspace,
        "both.yaml",
        sklearn_recipe(
            "both",
            "sklearn.ensemble.RandomForestClassifier",
            {"n_estimators": list(n_estimators)},
            repeat_count=REPEATS,
        ),
    )


def start_mlflow_run(experiment: str, recipe, log, env: dict | None = None) -> subprocess.Popen:
    """``mlflow run`` in the background; its output goes to a file, so a full pipe never stalls it."""
    args = mlflow_run_args(experiment, recipe)
    with open(log, "w") as output:
        return subprocess.Popen(
            args, stdout=output, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
        )


def assert_exact_tree(experiment: str, jobs: int = JOBS, folds: int = FOLDS, repeats: int = REPEATS) -> dict:
    """One FINISHED tree: every (job, fold, repeat) once; a refused run FAILED without children."""
    levels = runs_by_level(experiment)
    trained = [r for r in levels["experiment"] if r.info.status == "FINISHED"]
    refused = [r for r in levels["experiment"] if r.info.status != "FINISHED"]
    assert len(trained) == 1, [(r.info.run_id, r.info.status) for r in levels["experiment"]]
    assert len(levels["job"]) == jobs and len(levels["fold"]) == jobs * folds
    identities = {
        (r.data.tags["qc.job_key"], r.data.tags["qc.fold_index"], r.data.tags["qc.repeat_index"])
        for r in levels["model"]
    }
    assert len(levels["model"]) == len(identities) == jobs * folds * repeats
    assert all(r.info.status == "FINISHED" for level in ("job", "fold", "model") for r in levels[level])
    assert {r.data.tags["mlflow.parentRunId"] for r in levels["job"]} == {trained[0].info.run_id}
    for run in refused:
        assert run.info.status == "FAILED"
        assert "still running" in mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/qc/error.txt")
        assert not [
            r for runs in levels.values() for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id
        ]
    return {"trained": trained[0], "refused": refused}


def refusal_line(stderr: str) -> str:
    [line] = [line for line in stderr.splitlines() if line.startswith("error: ")]
    return line


def test_a_second_mlflow_run_of_a_running_recipe_is_refused_and_the_tree_ends_exact(workspace):
    recipe = forest(workspace)
    log = workspace / "first.log"
    with held_training(workspace, 1) as hold:  # the first holds after its first model while the second starts
        first = start_mlflow_run("both", recipe, log, hold.env)
        hold.wait(first)
        assert first.poll() is None, "the first run ended before the second started"
        second = mlflow_run("both", recipe)
    assert first.wait(timeout=600) == 0, log.read_text()[-3000:]
    assert second.returncode != 0 and "Traceback" not in second.stderr
    line = refusal_line(second.stderr)
    tree = assert_exact_tree("both")
    owner = tree["trained"]
    # the trainer's pid, or its launcher's when the trainer had just exited and `mlflow run` had not yet ended the run
    owners = {owner.data.tags["qc.pid"], owner.data.tags["qc.launcher_pid"]}
    assert any(
        line
        == (
            f"error: experiment: run {owner.info.run_id} of this recipe is still running "
            f"(pid {pid}); expected it to finish or be stopped before resuming"
        )
        for pid in owners
    ), line
    assert len(tree["refused"]) == 1


def start_qc_train(recipe, log, env=None) -> subprocess.Popen:
    """``mlflow-qc train`` in the background (the recipe's name is the experiment)."""
    with open(log, "w") as output:
        return subprocess.Popen(
            ["mlflow-qc", "train", str(recipe)],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )


def test_two_commands_started_together_on_a_store_that_does_not_exist_yet(workspace):
    """mlflow-qc's commands make a new store one at a time (``mlflow run``'s launcher is MLflow's: README)."""
    recipe = forest(workspace)
    (workspace / "mlflow.db").unlink()  # the e2e workspace comes with a made store (tests/e2e/conftest.py)
    assert not (workspace / "mlflow.db").exists()
    logs = [workspace / f"together-{i}.log" for i in range(2)]
    with held_training(workspace, 1) as hold:  # the one that trains holds after its first model until the other ended
        processes = [start_qc_train(recipe, log, hold.env) for log in logs]
        hold.wait(*processes)
        deadline = time.monotonic() + 300
        while all(process.poll() is None for process in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
    results = [(process.wait(timeout=900), log.read_text()) for process, log in zip(processes, logs)]
    for code, output in results:
        assert "duplicate column" not in output and "Traceback" not in output and "already exists" not in output, (
            output[-3000:]
        )
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, [output[-1500:] for _, output in results]
    refused = next(output for code, output in results if code != 0)
    assert "still running (pid " in refusal_line(refused)
    tree = assert_exact_tree("both")
    assert len(tree["refused"]) == 1
    assert (workspace / "mlflow.db.lock").exists() and os.path.getsize(workspace / "mlflow.db") > 0
