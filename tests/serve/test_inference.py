"""Batch inference: ``mlflow-qc predict`` with and without a target, and ``mlflow_qc.Inference``."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, r2_score

import mlflow_qc
from mlflow_qc.errors import QCError
from mlflow_qc.models.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlflow_qc.serve.inference import Inference, predict_file
from tests.serve.serving_helpers import EXOPLANETS_MODEL, IRIS_MODEL

pytestmark = pytest.mark.e2e

IRIS_URI = f"models:/{IRIS_MODEL}@champion"


def inference_run(project, stdout: str):
    run_id = stdout.split("inference run ", 1)[1].split(":", 1)[0]
    return mlflow.MlflowClient(project.tracking_uri).get_run(run_id)


def test_predict_cli_with_a_target_logs_an_inference_run_with_the_written_accuracy(iris, tmp_path):
    output = tmp_path / "answers.csv"
    result = iris.cli("predict", IRIS_URI, "data/iris.tsv", output, "--target", "species")
    written = pd.read_csv(output)
    truth = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t")["species"]
    assert len(written) == len(truth) == 150
    run = inference_run(iris, result.stdout)
    assert run.data.metrics["inference_accuracy"] == pytest.approx(
        accuracy_score(truth, written["prediction"]), abs=1e-12
    )
    assert {f"inference_{name}" for name in CLASSIFICATION_METRICS} <= set(run.data.metrics)
    client = mlflow.MlflowClient(iris.tracking_uri)
    version = client.get_model_version_by_alias(IRIS_MODEL, "champion")
    assert run.data.tags["qc.level"] == "inference"
    assert run.data.tags["qc.model_uri"] == IRIS_URI
    assert run.data.tags["qc.model_run_id"] == version.run_id
    assert run.info.experiment_id == client.get_run(version.run_id).info.experiment_id
    assert run.data.params["model_uri"] == IRIS_URI and run.data.params["target"] == "species"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "qc/inference")] == ["qc/inference/answers.csv"]


def test_target_from_a_file_and_parquet_output_score_the_same(iris, tmp_path, inside):
    inside(iris)
    table = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t")
    table.drop(columns="species").to_parquet(tmp_path / "features.parquet", index=False)
    table[["species"]].to_csv(tmp_path / "labels.csv", index=False)
    result = predict_file(
        IRIS_URI, str(tmp_path / "features.parquet"), str(tmp_path / "answers.parquet"), str(tmp_path / "labels.csv")
    )
    written = pd.read_parquet(tmp_path / "answers.parquet")
    assert result.metrics["accuracy"] == pytest.approx(
        accuracy_score(table["species"], written["prediction"]), abs=1e-12
    )
    assert result.metrics == pytest.approx(Inference(IRIS_URI).score(table, "species"), abs=1e-12)
    assert "inference run" in result.summary()


def test_without_a_target_nothing_is_logged_and_the_label_column_is_ignored(iris, tmp_path, inside):
    inside(iris)
    before = len(mlflow.search_runs(search_all_experiments=True, filter_string="tags.`qc.level` = 'inference'"))
    result = predict_file(IRIS_URI, str(iris.root / "data" / "iris.tsv"), str(tmp_path / "answers.tsv"), None)
    assert result.run_id is None and "--target species" in result.summary()
    assert len(pd.read_csv(tmp_path / "answers.tsv", sep="\t")) == 150
    assert len(mlflow.search_runs(search_all_experiments=True, filter_string="tags.`qc.level` = 'inference'")) == before


def test_regression_inference_scores_on_the_original_scale(exoplanets, tmp_path):
    output = tmp_path / "temperatures.parquet"
    result = exoplanets.cli(
        "predict", f"models:/{EXOPLANETS_MODEL}@champion", "data/exoplanets.parquet", output, "--target", "SurfaceTempK"
    )
    truth = pd.read_parquet(exoplanets.root / "data" / "exoplanets.parquet")["SurfaceTempK"]
    run = inference_run(exoplanets, result.stdout)
    assert run.data.metrics["inference_r2"] == pytest.approx(
        r2_score(truth, pd.read_parquet(output)["prediction"]), abs=1e-12
    )
    assert {f"inference_{name}" for name in REGRESSION_METRICS} <= set(run.data.metrics)


def test_predict_cli_exits_2_naming_the_column(iris, tmp_path):
    table = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t").astype({"sepal_width": object})
    table.loc[7, "sepal_width"] = "wide"
    table.to_csv(tmp_path / "typo.csv", index=False)
    result = iris.cli("predict", IRIS_URI, tmp_path / "typo.csv", tmp_path / "out.csv", check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: column 'sepal_width': ")
    assert "'wide'" in result.stderr and not (tmp_path / "out.csv").exists()


BAD_INPUTS = [
    ("missing column", lambda t: t.drop(columns="petal_length"), "species", "petal_length"),
    ("extra column", lambda t: t.assign(colour="red"), "species", "colour"),
    ("unknown label", lambda t: t.assign(species="daisy"), "species", "daisy"),
    ("target neither column nor file", lambda t: t, "nope", "nope"),
    ("text in a number column", lambda t: t.assign(sepal_length="x"), "species", "sepal_length"),
]


@pytest.mark.parametrize("name, change, target, named", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_inference_refuses_bad_input_naming_it(iris, inside, name, change, target, named):
    inside(iris)
    table = change(pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t"))
    with pytest.raises(QCError, match=named):
        Inference(IRIS_URI).score(table, target)


def test_inference_is_exported_and_casts_castable_dtypes(iris, inside):
    inside(iris)
    assert mlflow_qc.Inference is Inference
    table = pd.read_csv(iris.root / "data" / "iris.tsv", sep="\t").drop(columns="species").head(20)
    as_text = table.astype({"petal_width": str})
    inference = Inference(IRIS_URI)
    pd.testing.assert_frame_equal(inference.predict(as_text), inference.predict(table), check_exact=True)


def test_a_model_uri_that_is_not_a_qc_model_is_refused(iris, inside, tmp_path):
    inside(iris)
    with pytest.raises(QCError, match="model_uri"):
        Inference(str(tmp_path / "nowhere"))


def test_under_mlflow_run_the_inference_is_logged_into_its_run(iris, tmp_path, inside, monkeypatch):
    inside(iris)
    client = mlflow.MlflowClient()
    outer = client.create_run(client.create_experiment("launched-by-mlflow-run")).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", outer)
    result = predict_file(IRIS_URI, str(iris.root / "data" / "iris.tsv"), str(tmp_path / "answers.csv"), "species")
    assert result.run_id == outer
    run = client.get_run(outer)
    assert run.data.tags["qc.level"] == "inference" and run.info.status == "RUNNING"  # mlflow run ends it
    assert run.data.metrics["inference_accuracy"] == result.metrics["accuracy"]
