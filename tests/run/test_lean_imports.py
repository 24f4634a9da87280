"""A scikit-learn recipe trains without importing the deep-learning libraries (issue 13).

TensorFlow, Keras and PyTorch cost seconds of imports and hundreds of MiB; a scikit-learn
recipe must never load them. DVC is loaded only to version data that lives in a DVC repository
(its API hashes, adds and pushes, README "Data versioning"): never with ``data.version: off``.
Checked in a fresh interpreter through ``sys.modules`` after a whole training.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

HEAVY = ("tensorflow", "keras", "tf_keras", "torch", "dvc")

TRAIN_AND_LIST_MODULES = """
import json, sys
from mlflow_qc.experiment import Experiment
result = Experiment.from_yaml(sys.argv[1]).run()
assert result.finished == 8, result
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("version", ["auto", "off"])
def test_a_sklearn_recipe_trains_without_tensorflow_keras_torch_or_dvc(workspace, version):
    recipe = {
        "name": f"lean-{version}",
        "data": {
            "inputs": [
                {
                    "dataset": {"path": "../data/sonar.csv"},
                    "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
                }
            ],
            "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
            "stratifier": {"size_test": 0.15, "fold_count": 2},
            "version": version,
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "hyperparameters": {"C": [0.1, 1.0]},
        },
        "trainer": {"repeat_count": 2},
    }
    path = workspace / "recipes" / "lean.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    if version == "auto":
        subprocess.run(
            [sys.executable, "-m", "mlflow_qc.cli", "data", "add", "data/sonar.csv"], check=True, capture_output=True
        )

    proc = subprocess.run(
        [sys.executable, "-c", TRAIN_AND_LIST_MODULES, str(path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"mlflow", "sklearn", "mlflow_qc"} <= loaded  # it did train
    heavy = set(HEAVY) - ({"dvc"} if version == "auto" else set())  # auto versions the data in the DVC repo with DVC
    assert not loaded & heavy, f"a scikit-learn training imported {sorted(loaded & heavy)}"
    assert ("dvc" in loaded) == (version == "auto")
