"""Projects for the quality-guard tests (hide_test, baseline, gate, threshold): real git + DVC
workspaces with a real sqlite store, trained in this process.

``guards.csv``: a binary label (about 30% ``pos``) decided by ``signal`` blurred by noise;
``weak`` is ``signal`` drowned in more noise (a mediocre model's feature); ``shuffled`` is
``signal`` permuted against the labels (a feature set worse than nothing); ``noise`` is noise.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers import init_dvc_repo

ROWS = 300
DATA = "guards.csv"


def write_guard_data(path: Path, rows: int = ROWS, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    label = np.where(signal + rng.normal(scale=0.4, size=rows) > 0.5, "pos", "neg")
    pd.DataFrame(
        {
            "signal": signal,
            "weak": signal + rng.normal(scale=1.0, size=rows),
            "shuffled": rng.permutation(signal),
            "noise": rng.normal(size=rows),
            "label": label,
        }
    ).to_csv(path, index=False)


def guard_recipe(
    name: str,
    columns: list[str],
    estimator: str = "sklearn.linear_model.LogisticRegression",
    hyperparameters: dict | None = None,
    seed: int = 5,
    stratifier: dict | None = None,
    **sections,
) -> dict:
    """A binary scikit-learn recipe on ``columns`` of guards.csv (4 folds x 2 repeats, a test split)."""
    trainer = {"repeat_count": 2, **sections.pop("trainer", {})}
    return {
        "name": name,
        "seed": seed,
        "data": {
            "inputs": [
                {
                    "dataset": {"path": f"../data/{DATA}"},
                    "include_columns": columns,
                    "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
                }
            ],
            "target": {"column": "label", "encoder": {"sklearn": "LabelBinarizer"}},
            "stratifier": stratifier or {"size_test": 0.2, "fold_count": 4},
            "version": "off",
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": estimator,
            "hyperparameters": hyperparameters or {},
        },
        "trainer": trainer,
        **sections,
    }


def new_guard_project(root: Path) -> Path:
    init_dvc_repo(root)
    (root / "data").mkdir()
    write_guard_data(root / "data" / DATA)
    (root / "recipes").mkdir()
    return root


def write_recipe(root: Path, recipe: dict) -> Path:
    path = root / "recipes" / f"{recipe['name']}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


@contextmanager
def inside(root: Path):
    """cwd and MLFLOW_TRACKING_URI of the project, and nothing ``mlflow.set_experiment`` leaves behind."""
    import mlflow.tracking.fluent as fluent

    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
            patch.setenv(name, "")
            patch.delenv(name)
        patch.setattr(fluent, "_active_experiment_id", None)
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri(root))
        yield


def train(root: Path, recipe: dict):
    """Train ``recipe`` in this process; its ExperimentResult."""
    from mlflow_qc.experiment import Experiment
    from mlflow_qc.recipe import load_recipe

    path = write_recipe(root, recipe)
    with inside(root):
        return Experiment.from_recipe(load_recipe(str(path))).run()


def cli_env(root: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(root)}
