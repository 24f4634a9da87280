"""Resume after SIGKILL, continue_on_error, determinism, parallel workers, refit, TPE."""

import os
import signal
import sqlite3
import subprocess

import mlflow
import pandas as pd
import pytest
import yaml

from tests.helpers import cli_in_process, held_training, mlflow_run, mlflow_run_args, runs_by_level, sigkill_when_held

pytestmark = pytest.mark.e2e

SONAR_DATA = {
    "inputs": [
        {"dataset": {"path": "../data/sonar.csv"}, "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}]}
    ],
    "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
    "stratifier": {"size_test": 0.15, "fold_count": 4},
}

FLAKY_TORCH = """
from torch import nn

from mlflow_qc.models import train_loop


def fn_build(features_shape, label_shape, **hp):
    return nn.Sequential(nn.Linear(features_shape[-1], hp["neuron_count"]), nn.ReLU(),
                         nn.Linear(hp["neuron_count"], label_shape[-1]), nn.Sigmoid())


def fn_train(model, loser, optimizer, train_features, train_label, eval_features, eval_label, **hp):
    if hp["neuron_count"] == 13:
        raise ValueError("fn_train refuses 13 neurons")
    return train_loop(model, loser, optimizer, train_features, train_label, eval_features, eval_label,
                      analysis_type="classification_binary", epochs=hp["epochs"], seed=0)
"""


def write(root, name, recipe):
    path = root / "recipes" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    return path


def sklearn_recipe(name, estimator, grid, **trainer):
    return {
        "name": name,
        "data": SONAR_DATA,
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": estimator,
            "hyperparameters": grid,
        },
        "trainer": {"repeat_count": 2, **trainer},
    }


def finished_models(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type = 'table'")}
        if not {"runs", "tags"} <= tables:  # MLflow is still creating its schema
            return 0
        return connection.execute(
            "select count(*) from runs join tags on tags.run_uuid = runs.run_uuid "
            "where tags.key = 'qc.level' and tags.value = 'model' and runs.status = 'FINISHED'"
        ).fetchone()[0]


def test_sigkill_halfway_then_rerun_completes_the_tree(workspace):
    recipe = write(
        workspace,
        "forest.yaml",
        sklearn_recipe("forest", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": [5, 10, 15]}, n_jobs=2),
    )
    args = mlflow_run_args("kill", recipe)
    with held_training(workspace, 12) as hold:  # held after 12 of the 24 models, killed there
        sigkill_when_held(args, hold)
    killed_at = finished_models(workspace / "mlflow.db")
    assert 12 <= killed_at < 24

    result = mlflow_run("kill", recipe)
    assert result.returncode == 0, result.stderr[-3000:]
    levels = runs_by_level("kill")
    assert len(levels["experiment"]) == 1 and len(levels["job"]) == 3 and len(levels["fold"]) == 12
    models = levels["model"]
    identities = [
        (r.data.tags["qc.job_key"], r.data.tags["qc.fold_index"], r.data.tags["qc.repeat_index"]) for r in models
    ]
    assert len(models) == 24 and len(set(identities)) == 24
    assert all(r.info.status == "FINISHED" for runs in levels.values() for r in runs)
    [experiment] = levels["experiment"]
    job_ids = {r.info.run_id for r in levels["job"]}
    assert {r.data.tags["mlflow.parentRunId"] for r in levels["job"]} == {experiment.info.run_id}
    assert {r.data.tags["mlflow.parentRunId"] for r in levels["fold"]} == job_ids
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc/metrics.csv")
    )
    assert len(table) == 24 and set(table["run_id"]) == {r.info.run_id for r in models}
    reused = sum(r.info.start_time < experiment.info.start_time for r in models)
    assert reused == killed_at
    logged = mlflow.search_logged_models(experiment_ids=[experiment.info.experiment_id], output_format="list")
    assert sorted(m.source_run_id for m in logged) == sorted(
        r.info.run_id for r in models
    )  # the killed attempts' are gone


def test_a_failing_fn_train_fails_its_job_and_the_others_finish(workspace):
    (workspace / "models").mkdir()
    (workspace / "models" / "flaky_torch.py").write_text(FLAKY_TORCH)
    recipe = write(
        workspace,
        "flaky.yaml",
        {
            "name": "flaky",
            "data": {**SONAR_DATA, "stratifier": {"size_test": 0.2, "size_validation": 0.2}},
            "model": {
                "library": "pytorch",
                "analysis_type": "classification_binary",
                "module": "../models/flaky_torch.py",
                "hyperparameters": {"neuron_count": [8, 13], "epochs": [3]},
            },
        },
    )
    status, _, err = cli_in_process("--quiet", "train", recipe)  # in this process: the experiment "flaky"
    assert status == 0, err[-3000:]
    assert "fn_train refuses 13 neurons" in err
    levels = runs_by_level("flaky")
    jobs = {r.data.params["neuron_count"]: r for r in levels["job"]}
    assert jobs["8"].info.status == "FINISHED" and jobs["13"].info.status == "FAILED"
    error = mlflow.artifacts.load_text(f"runs:/{jobs['13'].info.run_id}/qc/error.txt")
    assert "Traceback" in error and "ValueError: fn_train refuses 13 neurons" in error
    failed_model = next(r for r in levels["model"] if r.data.tags["mlflow.parentRunId"] == jobs["13"].info.run_id)
    assert failed_model.info.status == "FAILED"
    assert "fn_train refuses 13 neurons" in mlflow.artifacts.load_text(f"runs:/{failed_model.info.run_id}/qc/error.txt")
    assert failed_model.data.tags["qc.error"].startswith(
        "ValueError: fn_train refuses 13 neurons"
    )  # the tracker's line
    [experiment] = levels["experiment"]
    assert experiment.info.status == "FINISHED" and experiment.data.tags["qc.models_failed"] == "1"
    assert experiment.data.tags["qc.models_finished"] == "1" and experiment.data.tags["qc.models_planned"] == "2"


def test_nothing_succeeding_exits_non_zero(workspace):
    (workspace / "models").mkdir()
    (workspace / "models" / "flaky_torch.py").write_text(FLAKY_TORCH)
    recipe = write(
        workspace,
        "doomed.yaml",
        {
            "name": "doomed",
            "data": {**SONAR_DATA, "stratifier": {"size_test": 0.2}},
            "model": {
                "library": "pytorch",
                "analysis_type": "classification_binary",
                "module": "../models/flaky_torch.py",
                "hyperparameters": {"neuron_count": [13], "epochs": [2]},
            },
        },
    )
    status, _, err = cli_in_process("--quiet", "train", recipe)  # in this process: the experiment "doomed"
    assert status != 0
    assert "nothing succeeded" in err
    [experiment] = runs_by_level("doomed")["experiment"]
    assert experiment.info.status == "FAILED"


def test_same_recipe_and_seed_give_identical_metrics(workspace):
    recipe = write(
        workspace,
        "twice.yaml",
        sklearn_recipe(
            "twice", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": [20], "max_features": [0.3]}
        ),
    )
    # one training through `mlflow run`, one in this process (another hash seed, other imports before it)
    result = mlflow_run("twice-a", recipe)
    assert result.returncode == 0, result.stderr[-3000:]
    status, _, err = cli_in_process("--quiet", "train", recipe)  # into the experiment of the recipe's name
    assert status == 0, err[-3000:]
    tables = []
    for experiment in ("twice-a", "twice"):
        [run] = runs_by_level(experiment)["experiment"]
        table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="qc/metrics.csv"))
        tables.append(table.drop(columns=["run_id"]))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert tables[0]["fold_validation_accuracy"].nunique() > 1  # repeats differ: each model has its own seed


def test_rerunning_a_finished_recipe_trains_nothing_new(workspace):
    recipe = write(
        workspace,
        "again.yaml",
        sklearn_recipe("again", "sklearn.linear_model.LogisticRegression", {"C": [0.1, 1.0]}, repeat_count=1),
    )
    status, _, err = cli_in_process("--quiet", "train", recipe)  # the first in this process: the experiment "again"
    assert status == 0, err[-3000:]
    first = runs_by_level("again")
    result = mlflow_run("again", recipe, overrides="trainer.repeat_count=2")
    assert result.returncode == 0, result.stderr[-2000:]
    second = runs_by_level("again")
    [earlier] = first["experiment"]
    [new] = [
        r for r in second["experiment"] if r.info.run_id != earlier.info.run_id
    ]  # a changed recipe: a tree of its own
    before = {r.info.run_id: (r.info.status, r.data.tags, r.data.metrics) for runs in first.values() for r in runs}
    after = {r.info.run_id: (r.info.status, r.data.tags, r.data.metrics) for runs in second.values() for r in runs}
    assert {run_id: after[run_id] for run_id in before} == before  # the earlier tree is left as it was
    kept = {r.info.run_id for r in first["model"]}
    assert len(second["model"]) == 2 * 4 * 2 and len(second["job"]) == 2 + 2  # repeat 1 trained, repeat 0 counted
    table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=new.info.run_id, artifact_path="qc/metrics.csv"))
    assert len(table) == 16 and kept < set(table["run_id"])
    assert "8 finished model(s) of experiment run(s) " + earlier.info.run_id in result.stdout


def test_refit_and_tpe_through_the_python_api(workspace):
    from mlflow_qc import Experiment, load_recipe

    recipe = sklearn_recipe(
        "tpe", "sklearn.linear_model.LogisticRegression", {"max_iter": [200]}, repeat_count=1, refit=True
    )
    recipe["data"] = {**SONAR_DATA, "stratifier": {"size_test": 0.15, "size_validation": 0.15, "fold_count": 3}}
    recipe["search"] = {"method": "tpe", "count": 4, "space": {"C": {"loguniform": [0.001, 10.0]}}}
    result = Experiment.from_recipe(load_recipe(write(workspace, "tpe.yaml", recipe))).run()
    levels = runs_by_level("tpe")
    jobs = [r for r in levels["job"] if r.data.tags["qc.refit"] == "false"]
    [refit] = [r for r in levels["job"] if r.data.tags["qc.refit"] == "true"]
    assert len(jobs) == 4 and len({r.data.params["C"] for r in jobs}) == 4
    best = next(r for r in jobs if r.data.tags["qc.job_index"] == str(result.best_job_index))
    assert refit.data.params["C"] == best.data.params["C"]
    refit_models = [r for r in levels["model"] if r.data.tags["mlflow.parentRunId"] == refit.info.run_id]
    assert len(refit_models) == 1 and set(refit_models[0].data.metrics) >= {"train_accuracy", "test_accuracy"}
    assert "validation_accuracy" not in refit_models[0].data.metrics  # validation rows are training rows now
    assert result.metrics()["refit"].sum() == 1
    [experiment] = levels["experiment"]
    assert experiment.data.tags["qc.models_planned"] == str(len(levels["model"])) == "13"  # 4 x 3 folds, then the refit


def test_sigterm_ends_every_run_of_the_tree_killed(workspace):
    from tests.helpers import CLI

    recipe = write(
        workspace,
        "term.yaml",
        sklearn_recipe("term", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": [5, 10]}),
    )
    with held_training(workspace, 3) as hold:  # SIGTERM once 3 models are recorded, before the 4th starts
        process = subprocess.Popen(
            [*CLI, "train", str(recipe)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **hold.env},
        )
        hold.wait(process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 130
    levels = runs_by_level("term")
    statuses = {r.info.status for runs in levels.values() for r in runs}
    assert "RUNNING" not in statuses
    assert levels["experiment"][0].info.status == "KILLED"
    assert any(r.info.status == "KILLED" for r in levels["job"])
