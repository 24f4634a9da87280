"""Issue 31 with a real training and a real ``mlflow run``: the closing lines of a training, what the
launcher reports for a mistake, no ``''`` parameter, and finalize's run labelled as its own."""

from __future__ import annotations

import re

import mlflow
import pytest
import yaml

from mlflow_qc.tracking.names import FINALIZE, FINALIZED, LEVEL
from tests.e2e.test_new_user_findings import write
from tests.helpers import cli_in_process, mlflow_run

pytestmark = pytest.mark.e2e

SONAR = {
    "name": "sonar-closing",
    "seed": 3,
    "data": {
        "inputs": [
            {
                "dataset": {"path": "../data/sonar.csv"},
                "encoders": [{"sklearn": "StandardScaler", "dtypes": ["float64"]}],
            }
        ],
        "target": {"column": "object", "encoder": {"sklearn": "LabelBinarizer"}},
        "stratifier": {"size_test": 0.2, "fold_count": 2},
        "version": "off",
    },
    "model": {
        "library": "sklearn",
        "analysis_type": "classification_binary",
        "estimator": "LogisticRegression",
        "hyperparameters": {"C": [0.1, 1.0]},
    },
    "trainer": {"repeat_count": 2},
    "register": {"model_name": "sonar-closing", "alias": "champion"},
}


def test_a_training_ends_naming_the_best_job_its_interval_the_version_and_where_to_look(workspace):
    code, out, err = cli_in_process("train", write(workspace, "closing", SONAR))
    assert code == 0, err
    run_id = re.search(r"experiment run (\w+): 8 model\(s\) finished", out).group(1)
    best = re.search(
        r"best job: job (\d) \(C=[\d.]+\): fold_validation_accuracy ([\d.]+) \[([\d.]+), ([\d.]+)\] "
        r"\(95% interval over 4 models\)",
        out,
    )
    assert best, out
    mean, low, high = map(float, best.groups()[1:])
    assert low < mean < high
    assert mlflow.MlflowClient().get_run(run_id).data.tags["qc.best_job_index"] == best.group(1)
    assert re.search(r"registered: sonar-closing version 1 as @champion \(models:/sonar-closing/1\)", out), out
    assert f"look: mlflow-qc ui, then http://127.0.0.1:5000/qc/experiment/{run_id} (the tracker" in out


def launched_run(experiment: str):
    client = mlflow.MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_under_mlflow_run_a_mistake_ends_the_launcher_with_exit_1_and_no_empty_overrides_param(workspace):
    recipe = write(workspace, "typo", yaml.safe_dump(SONAR).replace("hyperparameters:", "hyperparameter:"))
    done = mlflow_run("typo", recipe, timeout=600)  # cwd: the workspace
    assert done.returncode == 1  # MLflow's launcher: ExecutionException for any failed entry point
    assert "unknown key 'hyperparameter' in model; did you mean 'hyperparameters'?" in done.stderr
    assert re.search(r"=== Run \(ID '\w+'\) failed ===", done.stderr)
    run = launched_run("typo")
    assert run.info.status == "FAILED"
    assert "overrides" not in run.data.params  # none given: none logged (MLflow would log a declared '' default)
    assert run.data.params["recipe"] == str(recipe)


def test_finalize_under_mlflow_run_labels_the_launchers_run_as_its_own(workspace):
    client = mlflow.MlflowClient()
    other = client.create_run(client.create_experiment("elsewhere")).info.run_id
    client.set_terminated(other)
    done = mlflow_run("finalizing", None, entry_point="finalize", timeout=600, run_id=other)
    assert done.returncode == 1
    assert f"error: run_id: run {other} is a non-QC run; expected an experiment run" in done.stderr
    run = launched_run("finalizing")
    assert run.data.tags[LEVEL] == FINALIZE and run.data.tags[FINALIZED] == other
    assert run.info.run_name == f"{FINALIZE} {other[:8]}"
    assert run.info.status == "FAILED"
