"""trainer.threshold: the threshold chosen on each model's evaluation split is a param of its run, its
metrics and logged answers use it, and a real ``mlflow models serve`` answers with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_curve

from mlflow_qc import Inference
from tests.guard_data import DATA, cli_env, guard_recipe, inside, new_guard_project, tracking_uri, write_recipe
from tests.helpers import run_cli
from tests.serve.serving_helpers import Project, invoke, scoring_server, served_frame, split_payload

pytestmark = pytest.mark.e2e

NAME = "guards-threshold"
URI = f"models:/{NAME}@champion"
RECIPE = guard_recipe("threshold", ["weak", "noise"], trainer={"threshold": "youden"}, register={"model_name": NAME})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Trained and registered by ``mlflow-qc train`` in a real process."""
    root = new_guard_project(tmp_path_factory.mktemp("threshold") / "project")
    result = run_cli("train", write_recipe(root, RECIPE), cwd=root, env=cli_env(root), check=True)
    assert "experiment run" in result.stdout
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(root))
    version = client.get_model_version_by_alias(NAME, "champion")
    return root, client.get_run(version.run_id)


def test_the_threshold_is_the_best_youden_cut_of_the_models_evaluation_split(trained):
    root, model_run = trained
    import mlflow

    threshold = float(model_run.data.params["threshold"])
    predictions = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=model_run.info.run_id, artifact_path="qc/predictions.parquet", tracking_uri=tracking_uri(root)
        )
    )
    watched = predictions[predictions["split"] == "fold_validation"]
    truth, score = (watched["y_true"] == "pos").to_numpy(), watched["probability_pos"].to_numpy()
    false_positive, true_positive, _ = roc_curve(truth, score)
    chosen = score > threshold
    j = chosen[truth].mean() - chosen[~truth].mean()
    assert j == pytest.approx(np.max(true_positive - false_positive), abs=1e-12)
    assert abs(threshold - 0.5) > 0.1  # a 30% minority class pulls it well away from one half
    for split, rows in predictions.groupby("split"):  # every split's answers and accuracy use it
        assert (rows["prediction"] == np.where(rows["probability_pos"] > threshold, "pos", "neg")).all(), split
        assert model_run.data.metrics[f"{split}_accuracy"] == pytest.approx(
            accuracy_score(rows["y_true"], rows["prediction"]), abs=1e-12
        )


def test_the_served_model_answers_with_the_chosen_threshold(trained):
    root, model_run = trained
    threshold = float(model_run.data.params["threshold"])
    table = pd.read_csv(root / "data" / DATA)
    rows = table[["weak", "noise"]]
    with scoring_server(Project(root), URI) as url:
        served = served_frame(invoke(url, split_payload(rows)))
    assert (served["prediction"] == np.where(served["probability_pos"] > threshold, "pos", "neg")).all()
    changed = (served["probability_pos"] > 0.5) != (served["probability_pos"] > threshold)
    assert changed.sum() >= 10  # answers that one half would have given otherwise
    with inside(root):
        inference = Inference(URI)
        pd.testing.assert_frame_equal(inference.predict(rows), served, check_exact=True)
        scored = inference.score(table[["weak", "noise", "label"]], "label")
    assert scored["accuracy"] == pytest.approx(accuracy_score(table["label"], served["prediction"]), abs=1e-12)
