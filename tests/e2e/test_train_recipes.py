"""The three recipes of recipes/ trained for real through ``mlflow run``.

Each test counts the runs of every level, finds every metric for every split and
recomputes accuracy (or r2) from the logged predictions.
"""

import mlflow
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, r2_score

from mlflow_qc.models.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from tests.helpers import copy_recipe, mlflow_run, runs_by_level

pytestmark = pytest.mark.e2e


def train(workspace, recipe_name, experiment, overrides=""):
    recipe = copy_recipe(recipe_name, workspace)
    result = mlflow_run(experiment, recipe, overrides)
    assert result.returncode == 0, result.stderr[-3000:]
    return runs_by_level(experiment)


def predictions(run) -> pd.DataFrame:
    return pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="qc/predictions.parquet")
    )


def check_models(models, splits, metric_names, recompute):
    for run in models:
        assert run.info.status == "FINISHED"
        for split in splits:
            for metric in metric_names:
                assert f"{split}_{metric}" in run.data.metrics, (split, metric)
        frame = predictions(run)
        assert sorted(frame["split"].unique()) == sorted(splits)
        for split, rows in frame.groupby("split"):
            name, value = recompute(rows)
            assert value == pytest.approx(run.data.metrics[f"{split}_{name}"], abs=1e-12)


def accuracy(rows):
    return "accuracy", accuracy_score(rows["y_true"].astype(str), rows["prediction"].astype(str))


def r2(rows):
    return "r2", r2_score(rows["y_true"], rows["prediction"])


def test_keras_binary_sonar_three_folds_two_repeats_two_combos(workspace):
    # the README's demo, less the work nothing here looks at: 8 epochs of its 30, no permutation importance
    levels = train(
        workspace, "demo.yaml", "sonar-keras", "register=null;model.hyperparameters.epochs=[8];trainer.permute_count=0"
    )
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 2, "fold": 6, "model": 12}
    [experiment] = levels["experiment"]
    assert experiment.data.params["seed"] == "42"
    assert experiment.info.run_name == "sonar-binary"  # the recipe's name, not the one `mlflow run` drew
    assert experiment.data.tags["qc.page"] == f"/qc/experiment/{experiment.info.run_id}"
    kind = mlflow.MlflowClient().get_experiment(experiment.info.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    for job in levels["job"]:
        assert job.data.tags["mlflow.parentRunId"] == experiment.info.run_id
        assert "fold_validation_accuracy_mean" in job.data.metrics
    fold_parents = {run.info.run_id for run in levels["fold"]}
    assert {run.data.tags["mlflow.parentRunId"] for run in levels["model"]} == fold_parents
    check_models(levels["model"], ["train", "fold_validation", "validation", "test"], CLASSIFICATION_METRICS, accuracy)
    history = mlflow.MlflowClient().get_metric_history(levels["model"][0].info.run_id, "val_loss")
    assert len(history) >= 2 and [m.step for m in history] == list(range(len(history)))
    identities = {
        (r.data.tags["qc.job_index"], r.data.tags["qc.fold_index"], r.data.tags["qc.repeat_index"])
        for r in levels["model"]
    }
    assert len(identities) == 12


def test_pytorch_multiclass_iris(workspace):
    levels = train(workspace, "iris_pytorch.yaml", "iris-torch")
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 2, "model": 4}
    check_models(levels["model"], ["train", "validation", "test"], CLASSIFICATION_METRICS, accuracy)
    frame = predictions(levels["model"][0])
    assert set(frame["prediction"]) <= {"setosa", "versicolor", "virginica"}
    assert {"probability_setosa", "probability_versicolor", "probability_virginica"} <= set(frame.columns)


def test_sklearn_regression_exoplanets_with_interpolation(workspace):
    levels = train(workspace, "exoplanets_sklearn.yaml", "exoplanets")
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 3, "fold": 12, "model": 12}
    check_models(levels["model"], ["train", "fold_validation", "test"], REGRESSION_METRICS, r2)
    [experiment] = levels["experiment"]
    tables = mlflow.artifacts.download_artifacts(run_id=experiment.info.run_id, artifact_path="qc")
    models = pd.read_csv(f"{tables}/metrics.csv")
    jobs = pd.read_csv(f"{tables}/metrics_aggregate.csv")
    assert len(models) == 12 and len(jobs) == 3
    best = jobs.sort_values("fold_validation_r2_mean", ascending=False).iloc[0]
    assert experiment.data.tags["qc.best_job_index"] == str(best["job_index"])
    assert experiment.data.metrics["fold_validation_r2_mean"] == pytest.approx(best["fold_validation_r2_mean"])
    assert predictions(levels["model"][0])["prediction"].between(0, 10000).all()  # Kelvin, not the scaled target
