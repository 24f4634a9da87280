"""``mlflow-qc register``: the best model of the best job, its alias, tags naming where it came from."""

from __future__ import annotations

import hashlib
import json

import mlflow
import pandas as pd
import pytest

from mlflow_qc.errors import QCError
from mlflow_qc.serve.registry import register_best
from tests.serve.serving_helpers import EXOPLANETS_MODEL, IRIS_MODEL

pytestmark = pytest.mark.e2e


def models_table(project) -> pd.DataFrame:
    path = mlflow.artifacts.download_artifacts(
        run_id=project.run_id, artifact_path="qc/metrics.csv", tracking_uri=project.tracking_uri
    )
    return pd.read_csv(path)


def best_by_hand(table: pd.DataFrame, metric: str, higher: bool) -> pd.Series:
    """The best job by its mean, then its model closest to the job's median (the first in tree order on a tie)."""
    finished = table[table["status"] == "FINISHED"]
    means = finished.groupby("job_index")[metric].mean()
    job = means.idxmax() if higher else means.idxmin()
    models = finished[finished["job_index"] == job]
    return models.loc[(models[metric] - models[metric].median()).abs().idxmin()]


def test_registered_version_is_the_best_model_of_the_best_job_with_its_provenance(iris):
    client = mlflow.MlflowClient(iris.tracking_uri)
    version = client.get_model_version_by_alias(IRIS_MODEL, "champion")
    expected = best_by_hand(models_table(iris), "fold_validation_accuracy", higher=True)
    tags = version.tags
    assert tags["qc.model_run_id"] == version.run_id == expected["run_id"]
    assert tags["qc.job_index"] == str(expected["job_index"])
    table = models_table(iris)
    job_models = table[(table["job_index"] == expected["job_index"]) & (table["status"] == "FINISHED")]
    assert float(tags["qc.metric_value"]) == pytest.approx(
        job_models["fold_validation_accuracy"].mean()
    )  # the job's mean
    assert version.description.startswith(f"fold_validation_accuracy: job {expected['job_index']} mean ")
    assert "corrected interval" in version.description and "closest to the job's median" in version.description
    assert tags["qc.metric"] == "fold_validation_accuracy" and tags["qc.recipe"] == "iris-sklearn"
    assert tags["qc.experiment_run_id"] == iris.run_id and tags["qc.refit"] == "false"
    model_run = client.get_run(version.run_id)
    fold_run = client.get_run(model_run.data.tags["mlflow.parentRunId"])
    assert tags["qc.job_run_id"] == fold_run.data.tags["mlflow.parentRunId"]
    assert client.get_run(tags["qc.job_run_id"]).data.tags["qc.level"] == "job"
    md5 = hashlib.md5((iris.root / "data" / "iris.tsv").read_bytes()).hexdigest()
    assert json.loads(tags["qc.data_versions"]) == {"iris.tsv": md5}
    assert (
        model_run.data.tags["qc.model_uri"] == version.source
    )  # models:/<model_id>: the version comes from the logged model


def test_every_model_run_is_an_mlflow_logged_model_and_the_version_comes_from_one(iris, inside):
    """MLflow 3's own objects: the experiment's logged models (its Models tab), one per finished model run,
    with the run's params and split metrics; the registered version made from one; both URIs load."""
    inside(iris)
    client = mlflow.MlflowClient()
    experiment_id = client.get_run(iris.run_id).info.experiment_id
    model_runs = [
        r for r in client.search_runs([experiment_id], "tags.`qc.level` = 'model'") if r.info.status == "FINISHED"
    ]
    logged = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    assert len(logged) == len(model_runs) == 2 * 2  # 2 jobs x 2 folds
    by_run = {model.source_run_id: model for model in logged}
    for run in model_runs:
        model = by_run[run.info.run_id]
        assert model.status.to_int() == mlflow.entities.LoggedModelStatus.READY.to_int() and model.name == "model"
        assert model.params == run.data.params
        split_metrics = {m.key: m.value for m in model.metrics}
        assert split_metrics and split_metrics == {k: v for k, v in run.data.metrics.items() if k in split_metrics}
        assert {"train_accuracy", "fold_validation_accuracy", "test_accuracy"} <= set(split_metrics)
        assert [output.model_id for output in run.outputs.model_outputs] == [model.model_id]
        assert run.data.tags["qc.model_uri"] == f"models:/{model.model_id}"
    version = client.get_model_version_by_alias(IRIS_MODEL, "champion")
    model_id = by_run[version.run_id].model_id
    # MLflow 3.17's SQL registry keeps no model_id column (version.model_id reads None there); the version's
    # source is the logged model, and its files are the logged model's
    assert version.source == f"models:/{model_id}" and version.model_id in (None, model_id)
    assert (
        client.get_model_version_download_uri(IRIS_MODEL, version.version) == by_run[version.run_id].artifact_location
    )
    rows = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t").drop(columns="species").head(5)
    by_id = mlflow.pyfunc.load_model(f"models:/{model_id}").predict(rows)
    by_alias = mlflow.pyfunc.load_model(f"models:/{IRIS_MODEL}@champion").predict(rows)
    pd.testing.assert_frame_equal(by_id, by_alias)


def test_lower_is_better_metric_picks_the_lowest_loss(iris, inside):
    inside(iris)
    version = register_best(iris.run_id, "fold_validation_loss", "iris-by-loss", "lowest")
    expected = best_by_hand(models_table(iris), "fold_validation_loss", higher=False)
    assert version.tags["qc.model_run_id"] == expected["run_id"]
    assert version.aliases == ["lowest"]


def test_recipe_without_register_block_defaults_to_its_name_and_ranking_metric(exoplanets):
    version = mlflow.MlflowClient(exoplanets.tracking_uri).get_model_version_by_alias(EXOPLANETS_MODEL, "champion")
    assert version.tags["qc.metric"] == "fold_validation_r2"
    assert (
        version.tags["qc.model_run_id"]
        == best_by_hand(models_table(exoplanets), "fold_validation_r2", higher=True)["run_id"]
    )


def test_register_cli_refuses_a_model_run_with_exit_2(iris):
    model_run = mlflow.MlflowClient(iris.tracking_uri).get_model_version_by_alias(IRIS_MODEL, "champion").run_id
    result = iris.cli("register", model_run, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: run_id: run {model_run} is a model run; expected an experiment run (tag qc.level=experiment)"
    )


def test_unknown_metric_is_refused_listing_the_known_ones(iris, inside):
    inside(iris)
    with pytest.raises(
        QCError, match=r"'validation_accurcy' is not a metric .* expected one of \[.*'fold_validation_accuracy'"
    ):
        register_best(iris.run_id, "validation_accurcy", None, None)


def test_failed_alias_leaves_no_version_behind(iris, inside):
    inside(iris)
    client = mlflow.MlflowClient()
    before = len(client.search_model_versions(f"name = '{IRIS_MODEL}'"))
    with pytest.raises(QCError, match="alias"):
        register_best(iris.run_id, None, None, "v9")  # version-like aliases are reserved by MLflow
    assert len(client.search_model_versions(f"name = '{IRIS_MODEL}'")) == before
    with pytest.raises(QCError, match="alias"):
        register_best(iris.run_id, None, "never-registered", "latest")
    assert not client.search_registered_models("name = 'never-registered'")
