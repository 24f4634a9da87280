"""Tiny image datasets for fast tests: a manifest of dark and bright 6x4 grayscale images, and a
scikit-learn recipe on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image


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


def image_recipe(name: str, version: str = "off") -> dict:
    """LogisticRegression on the manifest ``images.csv`` (labels from its column ``label``), one model."""
    return {
        "name": name,
        "seed": 0,
        "data": {
            "inputs": [
                {
                    "dataset": {"path": "images.csv", "kind": "image", "image_column": "file"},
                    "encoders": [{"sklearn": "MinMaxScaler"}],
                }
            ],
            "target": {"column": "label", "dataset": {"path": "images.csv"}},
            "stratifier": {"size_test": 0.25},
            "version": version,
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "hyperparameters": {"C": [1.0]},
        },
        "trainer": {"repeat_count": 1, "permute_count": 0},
    }
