"""Sequence, image and text recipes of recipes/ trained for real through ``mlflow run``: the run tree
counted, every split's metrics present and accuracy recomputed from the logged predictions; the job
report's gallery; the served image model over HTTP (tensors and base64 image files)."""

import base64
import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlflow_qc.models.metrics import CLASSIFICATION_METRICS
from tests.e2e.test_train_recipes import accuracy, check_models
from tests.helpers import REPO_ROOT, mlflow_run, ready_store, runs_by_level
from tests.serve.serving_helpers import Project, invoke, new_project, scoring_server, served_frame

pytestmark = pytest.mark.e2e


def trained(tmp_path_factory, recipe: str, experiment: str, overrides: str = "") -> tuple[Project, dict]:
    root = new_project(tmp_path_factory.mktemp(experiment) / "project")
    ready_store(root / "mlflow.db")  # the launcher skips MLflow's migrations (tests/e2e/conftest.py)
    shutil.copy(REPO_ROOT / "recipes" / recipe, root / "recipes" / recipe)
    shutil.copytree(REPO_ROOT / "models", root / "models", dirs_exist_ok=True)
    project = Project(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", project.tracking_uri)
        result = mlflow_run(experiment, root / "recipes" / recipe, overrides)
        assert result.returncode == 0, result.stderr[-3000:]
        levels = runs_by_level(experiment)
    project.run_id = levels["experiment"][0].info.run_id
    return project, levels


@pytest.fixture(scope="module")
def epilepsy(tmp_path_factory):
    return trained(tmp_path_factory, "epilepsy_keras.yaml", "epilepsy", "model.hyperparameters.filters=[8]")


@pytest.fixture(scope="module")
def brain_tumor(tmp_path_factory):
    return trained(tmp_path_factory, "brain_tumor_pytorch.yaml", "brain-tumor")


@pytest.fixture(scope="module")
def spam(tmp_path_factory):
    return trained(tmp_path_factory, "spam_sklearn.yaml", "spam")


def job_report(project: Project, levels: dict) -> dict:
    job = levels["job"][0]
    path = mlflow.artifacts.download_artifacts(
        run_id=job.info.run_id, artifact_path="qc/report.json", tracking_uri=project.tracking_uri
    )
    return {section["title"]: section for section in json.loads(open(path).read())["sections"]}


def test_a_keras_conv1d_on_epilepsy_sequences(epilepsy, inside):
    project, levels = epilepsy
    inside(project)
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 1, "fold": 2, "model": 2}
    check_models(levels["model"], ["train", "fold_validation", "validation", "test"], CLASSIFICATION_METRICS, accuracy)
    assert all(run.data.metrics["validation_accuracy"] > 0.8 for run in levels["model"])
    for run in levels["model"]:  # per channel for sequences, in the importance table
        path = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="qc/importance.csv", tracking_uri=project.tracking_uri
        )
        assert "channel_0" in open(path).read()
    sections = job_report(project, levels)
    assert [f["layout"]["title"]["text"] for f in sections["Samples"]["figures"]] == [
        "Samples classified correctly",
        "Samples classified wrongly",
    ][: len(sections["Samples"]["figures"])]
    assert len(sections["Samples"]["figures"][0]["data"]) >= 1
    [experiment] = levels["experiment"]
    assert experiment.data.params["data.inputs"] == "1"
    assert experiment.data.tags["qc.whatif"] == "false"  # sequences: the QC pages offer no what-if page
    path = mlflow.artifacts.download_artifacts(
        run_id=levels["job"][0].info.run_id, artifact_path="qc/report.json", tracking_uri=project.tracking_uri
    )
    assert [page["path"] for page in json.loads(open(path).read())["pages"]] == [
        f"/qc/experiment/{experiment.info.run_id}"
    ]


def test_a_pytorch_cnn_on_brain_tumor_images(brain_tumor, inside):
    project, levels = brain_tumor
    inside(project)
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 1, "model": 2}
    check_models(levels["model"], ["train", "validation", "test"], CLASSIFICATION_METRICS, accuracy)
    assert all(run.data.metrics["validation_accuracy"] >= 0.75 for run in levels["model"])
    assert not any(key.startswith("importance_") for run in levels["model"] for key in run.data.metrics)
    sections = job_report(project, levels)
    assert any("not computed for image inputs" in note for note in sections["Feature importance"]["notes"])
    [experiment] = levels["experiment"]
    datasets = {d.dataset.name for d in experiment.inputs.dataset_inputs}
    assert datasets == {"brain_tumor.csv", "brain_tumor"}  # the manifest and its images' folder, each a DVC version
    page = mlflow.artifacts.load_text(f"runs:/{levels['job'][0].info.run_id}/qc/report.html")
    assert page.count('class="qc-sample"') >= 2 and "data:image/png;base64," in page


def test_tf_idf_and_a_linear_model_on_sms_spam(spam, inside):
    project, levels = spam
    inside(project)
    assert {k: len(v) for k, v in levels.items()} == {"experiment": 1, "job": 2, "fold": 6, "model": 6}
    check_models(levels["model"], ["train", "fold_validation", "test"], CLASSIFICATION_METRICS, accuracy)
    assert all(run.data.metrics["test_accuracy"] > 0.9 for run in levels["model"])
    model = mlflow.pyfunc.load_model(levels["model"][0].data.tags["qc.model_uri"])
    texts = pd.DataFrame({"TextData": ["WINNER!! Claim your free prize now, call 09061701461", "ok see you at lunch"]})
    answers = model.predict(texts)  # the vocabulary travels with the model: raw text in, classes out
    assert list(answers["prediction"]) == ["spam", "ham"]
    assert (
        levels["experiment"][0].data.tags["qc.whatif"] == "true"
    )  # a text column is a column: one field on the what-if page


def brain_images(project: Project, count: int):
    manifest = pd.read_csv(project.root / "data" / "brain_tumor.csv")
    files = [project.root / "data" / name for name in manifest["file"][:count]]
    from PIL import Image

    pixels = np.stack([np.asarray(Image.open(f).convert("L"))[None] for f in files]).astype(np.float64)
    encoded = [base64.b64encode(f.read_bytes()).decode("ascii") for f in files]
    return pixels, encoded


def test_a_served_image_model_answers_tensors_and_image_files_as_in_process(brain_tumor, inside):
    project, levels = brain_tumor
    inside(project)
    uri = levels["model"][0].data.tags["qc.model_uri"]
    pixels, encoded = brain_images(project, 5)
    expected = mlflow.pyfunc.load_model(uri).predict(pixels)
    with scoring_server(project, uri) as url:
        by_tensor = served_frame(invoke(url, {"inputs": pixels.tolist()}))
        by_files = served_frame(
            invoke(url, {"dataframe_split": {"columns": ["image"], "data": [[e] for e in encoded]}})
        )
        pd.testing.assert_frame_equal(by_tensor, expected, check_exact=False, rtol=1e-12, check_dtype=False)
        pd.testing.assert_frame_equal(by_files, by_tensor, check_exact=True)
        bad = {
            "wrong shape": (
                {"inputs": pixels[:, :, :100].tolist()},
                "a tensor of shape (5, 1, 100, 120); expected (n, 1, 160, 120)",
            ),
            "wrong dtype": ({"inputs": [[["dark"]]]}, "values; expected numbers of shape (n, 1, 160, 120)"),
            "not an image": (
                {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(b"hello").decode()]]}},
                "is not an image file Pillow can read",
            ),
            "not base64": ({"dataframe_split": {"columns": ["image"], "data": [["%%%"]]}}, "not base64"),
        }
        for name, (body, message) in bad.items():
            response = invoke(url, body)
            assert response.status_code == 400, (name, response.text[:500])
            assert message in response.json()["message"], (name, response.text[-500:])
        pd.testing.assert_frame_equal(
            served_frame(invoke(url, {"inputs": pixels.tolist()})), by_tensor
        )  # still serving


def test_batch_inference_reads_an_image_folder_and_scores_it(brain_tumor, inside):
    project, levels = brain_tumor
    inside(project)
    uri = levels["model"][0].data.tags["qc.model_uri"]
    output = project.root / "scored.csv"
    result = project.cli(
        "predict",
        uri,
        project.root / "data" / "brain_tumor",
        output,
        "--target",
        project.root / "data" / "brain_tumor.csv",
    )
    answers = pd.read_csv(output)
    manifest = pd.read_csv(project.root / "data" / "brain_tumor.csv")
    assert len(answers) == 80 and set(answers["prediction"]) <= {0, 1}
    accuracy_value = float((answers["prediction"] == manifest["status"]).mean())
    assert f"accuracy {accuracy_value:.4g}" in result.stdout
