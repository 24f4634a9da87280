"""Installing mlflow-qc changes nothing for other MLflow users (DESIGN section 7, issue 25): in a fresh process
that trains a recipe in-process and loads, predicts and evaluates its model, MLflow's own objects stay the
originals, a new sqlite engine keeps SQLite's default ``synchronous``, and ``mlflow.models.evaluate`` of a
plain scikit-learn model gives MLflow's metrics alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.e2e

SCRIPT = r"""
import json, sys
import mlflow, mlflow.pyfunc, sqlalchemy
from mlflow.pyfunc import PyFuncModel, scoring_server
from mlflow.utils import environment, requirements_utils

watched = {
    "PyFuncModel.predict": (PyFuncModel, "predict"),
    "scoring_server.infer_and_parse_data": (scoring_server, "infer_and_parse_data"),
    "scoring_server._decode_json_input": (scoring_server, "_decode_json_input"),
    "scoring_server.invocations": (scoring_server, "invocations"),
    "environment.warn_dependency_requirement_mismatches": (environment, "warn_dependency_requirement_mismatches"),
    "requirements_utils.warn_dependency_requirement_mismatches": (requirements_utils, "warn_dependency_requirement_mismatches"),
}
before = {name: getattr(owner, attr) for name, (owner, attr) in watched.items()}

import pandas as pd
from sklearn.linear_model import LogisticRegression
from mlflow_qc.experiment import Experiment

run = Experiment.from_yaml(sys.argv[1]).run()
model_run = [r for r in mlflow.search_runs(search_all_experiments=True, output_format="list")
             if r.data.tags.get("qc.level") == "model"][0]
data = pd.read_csv("data/iris.tsv", sep="\t")
model = mlflow.pyfunc.load_model(model_run.data.tags["qc.model_uri"])
model.predict(data.drop(columns="species").head(3))
changed = [name for name, (owner, attr) in watched.items() if getattr(owner, attr) is not before[name]]

engine = sqlalchemy.create_engine("sqlite:///fresh.db")
with engine.connect() as connection:
    synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()

x, y = data.drop(columns="species"), data["species"]
plain = LogisticRegression(max_iter=500).fit(x, y)
results = {}
for evaluators in (None, ["default"]):
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(plain, name="plain", input_example=x.head(2), pip_requirements=["scikit-learn"])
        result = mlflow.models.evaluate(info.model_uri, data, targets="species", model_type="classifier", evaluators=evaluators)
    results[str(evaluators)] = result.metrics
print(json.dumps({"changed": changed, "synchronous": synchronous, "every": results["None"], "mlflow": results["['default']"]}))
"""


def test_mlflow_s_objects_and_evaluate_are_mlflow_s_own_after_training(workspace):
    recipe = workspace / "recipes" / "untouched.yaml"
    recipe.parent.mkdir(exist_ok=True)
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": "untouched",
                "data": {
                    "inputs": [{"dataset": {"path": "../data/iris.tsv"}}],
                    "target": {"column": "species"},
                    "stratifier": {"size_test": 0.2},
                    "version": "off",
                },
                "model": {
                    "library": "sklearn",
                    "analysis_type": "classification_multi",
                    "estimator": "sklearn.linear_model.LogisticRegression",
                    "hyperparameters": {"C": [1.0]},
                },
                "trainer": {"permute_count": 0},
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(recipe)], cwd=workspace, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["changed"] == []
    assert found["synchronous"] == 2  # FULL: SQLite's default, on an engine mlflow-qc did not open
    assert not [key for key in found["every"] if key.startswith("qc_")]
    assert found["every"].keys() == found["mlflow"].keys()
    for key, value in found["mlflow"].items():
        assert found["every"][key] == pytest.approx(value), key
