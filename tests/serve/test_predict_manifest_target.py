"""``mlflow-qc predict MODEL manifest.csv OUT --target label``: the target is a column of the image
manifest predict reads the samples from (a scikit-learn model on tiny images, trained in-process)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient
from PIL import Image

from mlflow_qc.experiment import Experiment
from mlflow_qc.serve.inference import predict_file
from mlflow_qc.tracking.names import LEVEL, MODEL, MODEL_URI


def write_images(folder, count: int) -> pd.DataFrame:
    """Dark or bright 6x4 grayscale images and a manifest naming them with their label."""
    (folder / "pics").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for k in range(count):
        label = "bright" if k % 2 else "dark"
        pixels = rng.integers(150, 255, (4, 6)) if k % 2 else rng.integers(0, 100, (4, 6))
        Image.fromarray(pixels.astype(np.uint8), mode="L").save(folder / "pics" / f"{k:02d}.png")
        rows.append({"file": f"pics/{k:02d}.png", "label": label})
    manifest = pd.DataFrame(rows)
    manifest.to_csv(folder / "images.csv", index=False)
    return manifest


def test_predict_scores_with_a_column_of_the_image_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(leaked, raising=False)
    manifest = write_images(tmp_path, 20)
    recipe = {
        "name": "manifest-target", "seed": 0,
        "data": {"inputs": [{"dataset": {"path": "images.csv", "kind": "image", "image_column": "file"}}],
                 "target": {"column": "label", "dataset": {"path": "images.csv"}},
                 "stratifier": {"size_test": 0.25}, "version": "off"},
        "model": {"library": "sklearn", "analysis_type": "classification_binary",
                  "estimator": "sklearn.linear_model.LogisticRegression", "hyperparameters": {"C": [1.0]}},
        "trainer": {"repeat_count": 1, "permute_count": 0},
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = Experiment.from_yaml(str(tmp_path / "r.yaml")).run()
    [model_run] = MlflowClient().search_runs([result.experiment_id], f"tags.`{LEVEL}` = '{MODEL}'")

    scored = predict_file(model_run.data.tags[MODEL_URI], str(tmp_path / "images.csv"), str(tmp_path / "out.csv"), "label")
    answers = pd.read_csv(tmp_path / "out.csv")
    assert len(answers) == 20 and scored.run_id is not None
    assert scored.metrics["accuracy"] == float((answers["prediction"] == manifest["label"]).mean()) == 1.0
