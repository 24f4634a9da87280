"""Trained workspaces shared by the evaluation tests: each recipe is trained once per session.

A training runs in its own git + DVC project with its own sqlite store; a test enters one
with ``enter(trained)`` (cwd and MLFLOW_TRACKING_URI for that test only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import demo_project

SIGNAL_ROWS = 240


@dataclass
class Trained:
    root: Path
    tracking_uri: str
    run_id: str  # the experiment run
    experiment_id: str

    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(self.tracking_uri)

    def runs(self, level: str, extra: str = "") -> list:
        query = f"tags.`qc.level` = '{level}'" + (f" and {extra}" if extra else "")
        return self.client().search_runs([self.experiment_id], query, max_results=1000)

    def artifact(self, run_id: str, path: str) -> Path:
        return Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=self.tracking_uri)
        )

    def report(self, run_id: str) -> dict:
        return json.loads(self.artifact(run_id, "qc/report.json").read_text())


def write_signal_data(path: Path, rows: int = SIGNAL_ROWS, seed: int = 0) -> None:
    """Only ``signal`` (blurred by label noise) decides the label; ``noise_a``, ``noise_b`` and the
    categorical ``color`` are noise."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    blurred = signal + rng.normal(scale=0.4, size=rows)
    frame = pd.DataFrame(
        {
            "signal": signal,
            "noise_a": rng.normal(size=rows),
            "noise_b": rng.normal(size=rows),
            "color": rng.choice(["red", "green", "blue"], size=rows),
            "label": np.where(blurred > 0, "pos", "neg"),
        }
    )
    frame.to_csv(path, index=False)


def isolate_mlflow(patch: pytest.MonkeyPatch) -> None:
    """Undo, when ``patch`` ends, what ``mlflow.set_experiment`` leaves process-wide (the active
    experiment and MLFLOW_EXPERIMENT_ID, which a later ``mlflow run --experiment-name`` rejects), and the
    MLFLOW_REGISTRY_URI that ``mlflow.set_registry_uri`` exports (``set_registry_uri(None)`` keeps it)."""
    import mlflow.tracking.fluent as fluent

    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_REGISTRY_URI"):
        patch.setenv(name, "")  # records the original (or its absence) so the undo removes a later value
        patch.delenv(name)
    patch.setattr(fluent, "_active_experiment_id", None)


def train(tmp_path_factory, name: str, recipe: dict) -> Trained:
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.recipe import load_recipe

    root = demo_project(tmp_path_factory.mktemp(name) / "project")
    write_signal_data(root / "data" / "signal.csv")
    path = root / "recipes" / f"{name}.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({"name": name, **recipe}))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        isolate_mlflow(patch)
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        result = Experiment.from_recipe(load_recipe(str(path))).run()
    return Trained(root, uri, result.run_id, result.experiment_id)


@pytest.fixture
def isolated(monkeypatch) -> None:
    isolate_mlflow(monkeypatch)


@pytest.fixture
def enter(monkeypatch):
    def use(trained: Trained) -> Trained:
        isolate_mlflow(monkeypatch)
        monkeypatch.chdir(trained.root)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
        return trained

    return use


SONAR_BINARY = {
    "seed": 7,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/sonar.csv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
        "stratifier": {"size_test": 0.15, "fold_count": 3},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_binary",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [0.05, 1.0]},
    },
    "trainer": {"repeat_count": 2},
}

# Four jobs: two strong forests that differ only by their random state, and two crippled
# ones (a single leaf per tree: they predict the majority class).
SIGNAL_FORESTS = {
    "seed": 3,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/signal.csv"},
                "encoders": [
                    {"sklearn": "OneHotEncoder", "columns": ["color"]},
                    {"sklearn": "StandardScaler", "dtypes": ["float64"]},
                ],
            }
        ],
        "target": {"column": "label", "encoder": {"sklearn": "LabelBinarizer"}},
        "stratifier": {"size_test": 0.2, "fold_count": 4},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_binary",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "hyperparameters": {"n_estimators": [40], "min_samples_leaf": [5, 10000], "random_state": [1, 2]},
    },
    "trainer": {"repeat_count": 1, "permute_count": 5},
}

IRIS_MLP = {
    "seed": 5,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/iris.tsv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "species", "encoder": {"sklearn": "OneHotEncoder"}},
        "stratifier": {"size_test": 0.2, "size_validation": 0.2},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_multi",
        "estimator": "sklearn.neural_network.MLPClassifier",
        "hyperparameters": {
            "hidden_layer_sizes": [[16]],
            "max_iter": [80],
            "learning_rate_init": [0.01],
            "early_stopping": [True],
            "n_iter_no_change": [40],
        },
    },
    "trainer": {"repeat_count": 2},
}

EXOPLANETS_REGRESSION = {
    "seed": 11,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/exoplanets_gappy.parquet"},
                "interpolaters": [{"dtypes": ["float64"], "method": "linear"}],
                "encoders": [
                    {"sklearn": "OneHotEncoder", "columns": ["TypeFlag"]},
                    {"sklearn": "RobustScaler", "dtypes": ["float64"]},
                ],
            }
        ],
        "target": {"column": "SurfaceTempK", "encoder": {"sklearn": "PowerTransformer"}},
        "stratifier": {"size_test": 0.2, "size_validation": 0.2, "bin_count": 4},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "regression",
        "estimator": "sklearn.ensemble.GradientBoostingRegressor",
        "hyperparameters": {"n_estimators": [40]},
    },
    "trainer": {"permute_count": 2},
}


@pytest.fixture(scope="session")
def sonar_binary(tmp_path_factory) -> Trained:
    return train(tmp_path_factory, "sonar-binary", SONAR_BINARY)


@pytest.fixture(scope="session")
def signal_forests(tmp_path_factory) -> Trained:
    return train(tmp_path_factory, "signal-forests", SIGNAL_FORESTS)


@pytest.fixture(scope="session")
def iris_mlp(tmp_path_factory) -> Trained:
    return train(tmp_path_factory, "iris-mlp", IRIS_MLP)


@pytest.fixture(scope="session")
def exoplanets_regression(tmp_path_factory) -> Trained:
    return train(tmp_path_factory, "exoplanets-regression", EXOPLANETS_REGRESSION)
