"""Failures said once per cause (scikit-learn's grouping), a mistyped hyperparameter refused before any
run naming it, and Ctrl-C: "interrupted", exit status 130, runs KILLED and nothing left RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlflow_qc.errors import QCError
from mlflow_qc.recipe import load_recipe
from mlflow_qc.run.experiment_run import check_model
from mlflow_qc.run.failures import grouped_failures
from mlflow_qc.run.plan import Job, ModelRecord, plan_tasks
from mlflow_qc.tracking.names import FAILED
from tests.helpers import REPO_ROOT

TYPE_ERROR = "TypeError: '>' not supported between instances of 'str' and 'int'"


def failed(task, line: str) -> ModelRecord:
    return ModelRecord(task, "run", FAILED, {}, error=f"Traceback (most recent call last):\n  ...\n{line}\n")


def test_failures_are_grouped_by_cause_with_counts_and_the_text_hyperparameter_named():
    jobs = [
        Job(0, {"epochs": "30", "units": 8}),
        Job(1, {"epochs": "30", "units": 16}),
        Job(2, {"epochs": 5, "units": 4}),
    ]
    tasks = plan_tasks(jobs, ["fold_0", "fold_1"], 2, 7)  # 12 models
    failures = [failed(task, TYPE_ERROR) for task in tasks if task.job.index < 2]
    failures.append(failed(tasks[-1], "ValueError: a layer of 4 units is too small"))
    text = grouped_failures(failures, total=12)
    lines = text.splitlines()
    assert lines[0] == "9 of 12 models failed (2 distinct causes):"
    assert lines[1].startswith(f"  8 x {TYPE_ERROR} (jobs 0, 1); given as text: model.hyperparameters.epochs: '30'")
    assert lines[2] == "  1 x ValueError: a layer of 4 units is too small (job 2)"
    assert len(lines) == 3  # each cause once, not once per model


@pytest.mark.parametrize(
    "name, value", [("epochs", "30"), ("batch_size", 0), ("learning_rate", "1e-3"), ("epochs", True)]
)
def test_a_default_training_hyperparameter_of_the_wrong_type_is_refused_before_any_run_naming_it(tmp_path, name, value):
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b"] * 2}).to_csv(tmp_path / "t.csv", index=False)
    recipe = {
        "name": "types",
        "data": {"inputs": [{"dataset": {"path": "t.csv"}}], "target": {"column": "y"}, "version": "off"},
        "model": {
            "library": "pytorch",
            "analysis_type": "classification_binary",
            "module": str(REPO_ROOT / "models" / "iris_torch.py"),
            "hyperparameters": {"neuron_count": [4], "epochs": [10], "learning_rate": [0.01]},
        },
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    check_model(load_recipe(tmp_path / "r.yaml"))  # what they should be
    with pytest.raises(QCError) as error:
        check_model(load_recipe(tmp_path / "r.yaml", f"model.hyperparameters.{name}=[{value!r}]"))
    assert error.value.where == f"model.hyperparameters.{name}" and repr(value) in str(error.value)


INTERRUPTING = '''
import os
import signal

from sklearn.linear_model import LogisticRegression


class InterruptedOnSecondJob(LogisticRegression):
    """Ctrl-C, sent from inside the training (deterministic): while the second job's first model fits."""

    def fit(self, X, y, sample_weight=None):
        if self.C == 2.0:
            os.kill(os.getpid(), signal.SIGINT)
        return super().fit(X, y, sample_weight)
'''


def test_ctrl_c_ends_with_interrupted_exit_130_runs_killed_and_nothing_running(tmp_path):
    pd.DataFrame({"x": [float(k % 7) for k in range(40)], "y": ["a", "b"] * 20}).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "interrupting.py").write_text(INTERRUPTING)
    recipe = {
        "name": "ctrl-c",
        "seed": 1,
        "data": {
            "inputs": [{"dataset": {"path": "t.csv"}}],
            "target": {"column": "y"},
            "stratifier": {"size_test": 0.2, "fold_count": 2},
            "version": "off",
        },
        "model": {
            "library": "sklearn",
            "analysis_type": "classification_binary",
            "estimator": "interrupting.InterruptedOnSecondJob",
            "hyperparameters": {"C": [1.0, 2.0]},
        },
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(tmp_path), "MLFLOW_QC_QUIET": "1"}
    for leaked in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(leaked, None)
    proc = subprocess.run(
        [sys.executable, "-m", "mlflow_qc.cli", "train", "r.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        # as from a terminal: a test run started in the background inherits SIGINT ignored, and so would the CLI
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.returncode == 130, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in proc.stderr and "Aborted" not in proc.stderr

    client = MlflowClient(uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "ctrl-c"]
    runs = client.search_runs([experiment.experiment_id])
    statuses = {(run.data.tags.get("qc.level"), run.info.status) for run in runs}
    assert not any(status == "RUNNING" for _, status in statuses), statuses
    assert ("experiment", "KILLED") in statuses and ("model", "KILLED") in statuses
    assert ("model", "FINISHED") in statuses  # the first job's models, kept for a rerun
