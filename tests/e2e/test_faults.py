"""Faults: SIGTERM during registration, a tracking server stopped mid-experiment, a full disk.

Each ends the command with one line, leaves nothing half-done, and a rerun completes the tree.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from tests.e2e.test_concurrent_runs import assert_exact_tree
from tests.e2e.test_resume_and_failures import SONAR_DATA, finished_models, sklearn_recipe, write
from tests.helpers import CLI, background_server, cli_in_process, free_port, held_training, ready_store

pytestmark = pytest.mark.e2e

# A real SIGTERM, sent by the process to itself right after one registry call has done its work.
INTERRUPTED_REGISTER = """
import os, signal, sys
from mlflow.tracking._model_registry.client import ModelRegistryClient
point, run_id, name = sys.argv[1:4]
original = getattr(ModelRegistryClient, point)
def interrupted(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
    return result
setattr(ModelRegistryClient, point, interrupted)
from mlflow_qc.cli import main
main(["register", run_id, "--model-name", name])
"""


def experiment_run_id(stdout: str) -> str:
    return stdout.split("experiment run ", 1)[1].split(":", 1)[0]


def versions(client, name: str) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))


@pytest.fixture
def trained(workspace):
    recipe = write(
        workspace,
        "reg.yaml",
        {  # a run tree to register from: 2 jobs of 2 folds, one repeat (4 models) are enough
            **sklearn_recipe("reg", "sklearn.linear_model.LogisticRegression", {"C": [0.1, 1.0]}, repeat_count=1),
            "data": {**SONAR_DATA, "stratifier": {"size_test": 0.15, "fold_count": 2}, "version": "off"},
        },
    )
    status, out, err = cli_in_process("--quiet", "train", recipe)
    assert status == 0, err[-2000:]
    return experiment_run_id(out)


@pytest.mark.parametrize("point", ["create_model_version", "set_registered_model_alias", "get_model_version"])
def test_sigterm_during_registration_leaves_no_version_and_moves_no_alias(workspace, trained, point):
    client = mlflow.MlflowClient()
    status, _, err = cli_in_process("register", trained, "--model-name", "sonar-reg")
    assert status == 0, err
    assert versions(client, "sonar-reg") == ["1"]
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_REGISTER, point, trained, "sonar-reg"],
        capture_output=True,
        text=True,
        cwd=workspace,
    )
    assert result.returncode == 130 and result.stderr.strip().splitlines()[-1] == "interrupted", result.stderr[-2000:]
    assert versions(client, "sonar-reg") == ["1"]  # the interrupted version was taken back
    assert str(client.get_model_version_by_alias("sonar-reg", "champion").version) == "1"


@pytest.mark.parametrize("point", ["create_registered_model", "create_model_version"])
def test_sigterm_during_a_first_registration_leaves_no_registered_model(workspace, trained, point):
    result = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_REGISTER, point, trained, "sonar-new"],
        capture_output=True,
        text=True,
        cwd=workspace,
    )
    assert result.returncode == 130, result.stderr[-2000:]
    with pytest.raises(MlflowException):
        mlflow.MlflowClient().get_registered_model("sonar-new")


def test_a_tracking_server_stopped_mid_experiment_ends_in_one_line_and_a_rerun_completes(workspace):
    recipe = write(
        workspace,
        "remote.yaml",
        sklearn_recipe("both", "sklearn.ensemble.RandomForestClassifier", {"n_estimators": [5, 10]}, repeat_count=1),
    )
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    ready_store(workspace / "server.db")  # the server skips MLflow's migrations
    server = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{workspace / 'server.db'}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    }
    with (
        held_training(workspace, 3) as hold,
        background_server(server, f"{uri}/health", workspace / "server-1.log", workspace, env),
    ):
        training = subprocess.Popen(
            [*CLI, "--quiet", "train", str(recipe)],
            cwd=workspace,
            env={**env, **hold.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hold.wait(training)  # 3 models recorded through the server; the server stops while the training holds
        assert training.poll() is None, training.communicate()[1][-3000:]
    stopped = time.monotonic()  # the server is gone (its process group has ended), then the training goes on
    out, err = training.communicate(timeout=300)
    waited = time.monotonic() - stopped
    assert training.returncode == 1, err[-3000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: tracking server {uri}: not answering after 2 retries"), last
    assert "rerun to resume" in last
    assert waited < 120, waited  # bounded retries, then one try per cleanup call

    with background_server(server, f"{uri}/health", workspace / "server-2.log", workspace, env):
        rerun = subprocess.run(
            [*CLI, "--quiet", "train", str(recipe)], cwd=workspace, env=env, capture_output=True, text=True
        )
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        reused = int(re.search(r"\((\d+) reused\)", rerun.stdout).group(1))
        assert reused >= 3
        os.environ["MLFLOW_TRACKING_URI"] = uri  # read the tree through the server; the fixture restores it
        assert_exact_tree("both", repeats=1)


def test_a_full_disk_fails_the_run_with_the_cause_and_a_rerun_after_freeing_space_completes(workspace):
    """RLIMIT_FSIZE stands in for a full disk: writing past it fails with EFBIG (Python ignores SIGXFSZ)."""
    recipe = write(
        workspace,
        "big.yaml",
        {
            "name": "both",
            "data": {**SONAR_DATA, "version": "off"},
            "model": {
                "library": "sklearn",
                "analysis_type": "classification_binary",
                "estimator": "sklearn.neural_network.MLPClassifier",
                "hyperparameters": {"hidden_layer_sizes": [[8], [5000]], "max_iter": [2]},
            },  # ~10 MB per large model
            "trainer": {"repeat_count": 2},
        },
    )
    limit = 6 * 2**20

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(
        [*CLI, "--quiet", "train", str(recipe)], cwd=workspace, capture_output=True, text=True, preexec_fn=small_files
    )
    assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr[-3000:]
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("error: disk") and "full ([Errno 27] File too large" in last and "rerun to resume" in last, (
        last
    )
    client = mlflow.MlflowClient()
    [experiment] = client.search_runs(
        [client.get_experiment_by_name("both").experiment_id], "tags.`qc.level` = 'experiment'"
    )
    assert experiment.info.status == "FAILED"
    assert "File too large" in mlflow.artifacts.load_text(f"runs:/{experiment.info.run_id}/qc/error.txt")
    runs = client.search_runs([experiment.info.experiment_id], max_results=1000)
    assert "RUNNING" not in {r.info.status for r in runs}
    failed = [r for r in runs if r.data.tags.get("qc.level") == "model" and r.info.status == "FAILED"]
    assert len(failed) == 1  # the first large model; none of the rest was started
    kept = finished_models(workspace / "mlflow.db")
    assert kept == 8  # the small job's models (4 folds x 2 repeats)

    rerun = subprocess.run([*CLI, "--quiet", "train", str(recipe)], cwd=workspace, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"({kept} reused)" in rerun.stdout
    assert_exact_tree("both")
