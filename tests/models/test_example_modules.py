"""The example user modules under models/ train on the demo data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adapter_fixtures import REPO_ROOT, Split, architecture

from mlflow_qc.models import adapter_for

DEMO = REPO_ROOT / "mlflow_qc" / "demo"


def standardised_split(features: np.ndarray, label: np.ndarray, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(features))
    cut = len(order) * 3 // 4
    train, evaluation = order[:cut], order[cut:]
    mean, std = features[train].mean(axis=0), features[train].std(axis=0)
    scaled = (features - mean) / std
    return Split([scaled[train]], label[train]), Split([scaled[evaluation]], label[evaluation])


def test_iris_torch_learns_with_the_defaults():
    iris = pd.read_csv(DEMO / "iris.tsv", sep="\t")
    label = pd.factorize(iris["species"])[0][:, None].astype(float)
    train, evaluation = standardised_split(iris.drop(columns="species").to_numpy(float), label)
    adapter = adapter_for(architecture("pytorch", "multi_ordinal", REPO_ROOT / "models" / "iris_torch.py"), n_classes=3)
    trained = adapter.fit(train, evaluation, {"neuron_count": 12, "learning_rate": 0.01, "epochs": 30}, 42)
    output = adapter.predict(trained.model, evaluation.features)
    assert output.shape == (38, 3)
    assert (output.argmax(axis=1) == evaluation.label[:, 0]).mean() > 0.85
    assert len(trained.history["val_accuracy"]) == 30


def test_sonar_keras_trains_with_its_fn_train():
    pytest.importorskip("keras")
    sonar = pd.read_csv(DEMO / "sonar.csv")
    label = (sonar["object"] == "M").to_numpy(float)[:, None]
    train, evaluation = standardised_split(sonar.drop(columns="object").to_numpy(float), label)
    adapter = adapter_for(architecture("keras", "binary", REPO_ROOT / "models" / "sonar_keras.py"))
    trained = adapter.fit(train, evaluation, {"neuron_count": 12, "learning_rate": 0.01, "epochs": 8}, 42)
    output = adapter.predict(trained.model, evaluation.features)
    assert output.shape == (52, 1) and ((output >= 0) & (output <= 1)).all()
    assert set(trained.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert 1 <= len(trained.history["loss"]) <= 8
    assert trained.history["accuracy"][-1] > 0.7
