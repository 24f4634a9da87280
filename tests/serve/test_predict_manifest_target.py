"""``mlflow-qc predict MODEL manifest.csv OUT --target label``: the target is a column of the image
manifest predict reads the samples from (a scikit-learn model on tiny images, trained in-process)."""

from __future__ import annotations

import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from mlflow_qc.experiment import Experiment
from mlflow_qc.serve.inference import predict_file
from mlflow_qc.tracking.names import LEVEL, MODEL, MODEL_URI
from tests.image_data import image_recipe, write_images


def test_predict_scores_with_a_column_of_the_image_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(leaked, raising=False)
    manifest = write_images(tmp_path, 20)
    recipe = image_recipe("manifest-target")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = Experiment.from_yaml(str(tmp_path / "r.yaml")).run()
    [model_run] = MlflowClient().search_runs([result.experiment_id], f"tags.`{LEVEL}` = '{MODEL}'")

    scored = predict_file(
        model_run.data.tags[MODEL_URI], str(tmp_path / "images.csv"), str(tmp_path / "out.csv"), "label"
    )
    answers = pd.read_csv(tmp_path / "out.csv")
    assert len(answers) == 20 and scored.run_id is not None
    assert scored.metrics["accuracy"] == float((answers["prediction"] == manifest["label"]).mean()) == 1.0
