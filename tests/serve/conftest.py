"""Trained, registered projects shared by the serving tests (training once per session)."""

from __future__ import annotations

import pytest

from tests.helpers import copy_recipe
from tests.serve.serving_helpers import IRIS_MODEL, Project, new_project, scoring_server, train, write_recipe

IRIS_SKLEARN = {
    "name": "iris-sklearn",
    "seed": 7,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/iris.tsv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "species", "encoder": {"sklearn": "OneHotEncoder"}},
        "stratifier": {"size_test": 0.2, "fold_count": 2},
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_multi",
        "estimator": "sklearn.linear_model.LogisticRegression",
        "hyperparameters": {"C": [0.05, 1.0]},
    },
    "trainer": {"permute_count": 0},
    "register": {"model_name": IRIS_MODEL, "metric": "fold_validation_accuracy", "alias": "champion"},
}


@pytest.fixture(scope="session")
def iris(tmp_path_factory) -> Project:
    """iris with a one-hot target, scikit-learn, 2 jobs x 2 folds, registered through the CLI."""
    root = new_project(tmp_path_factory.mktemp("serve") / "iris")
    project = train(root, write_recipe(root, "iris", IRIS_SKLEARN))
    project.cli("register", project.run_id)
    return project


@pytest.fixture(scope="session")
def iris_url(iris):
    """One real ``mlflow models serve -m models:/iris-classifier@champion`` for the session."""
    with scoring_server(iris, f"models:/{IRIS_MODEL}@champion") as url:
        yield url


@pytest.fixture(scope="session")
def exoplanets(tmp_path_factory) -> Project:
    """recipes/exoplanets_sklearn.yaml (PowerTransformer target), cut to 2 jobs x 4 folds; registered."""
    root = new_project(tmp_path_factory.mktemp("serve") / "exoplanets")
    project = train(root, copy_recipe("exoplanets_sklearn.yaml", root), "search.count=2;trainer.permute_count=0")
    project.cli("register", project.run_id)
    return project


@pytest.fixture(scope="session")
def iris_torch(tmp_path_factory) -> Project:
    """recipes/iris_pytorch.yaml cut to 1 model (no folds, 1 repeat, 15 epochs); registered under its name."""
    root = new_project(tmp_path_factory.mktemp("serve") / "iris-torch")
    overrides = "model.hyperparameters.neuron_count=[8];model.hyperparameters.epochs=[15];trainer.repeat_count=1"
    project = train(root, copy_recipe("iris_pytorch.yaml", root), overrides)
    project.cli("register", project.run_id)
    return project


@pytest.fixture(scope="session")
def sonar_keras(tmp_path_factory) -> Project:
    """The demo recipe (sonar, Keras) cut to 1 model of 5 epochs; registered as sonar-classifier@champion."""
    root = new_project(tmp_path_factory.mktemp("serve") / "sonar")
    overrides = (
        "data.stratifier.fold_count=null;trainer.repeat_count=1;trainer.permute_count=0;"
        "model.hyperparameters.neuron_count=[12];model.hyperparameters.epochs=[5]"
    )
    project = train(root, copy_recipe("demo.yaml", root), overrides)
    project.cli("register", project.run_id)
    return project
