"""A qc model deploys where mlflow-qc is not installed: it carries its inference code (``code/``) and
its requirements name only public packages (README: "Serving and inference").

The environments are built as a serving team builds them: ``mlflow models prepare-env
--env-manager uv`` (MLflow's recommended manager; ``virtualenv`` differs only in using pyenv and pip)
makes a fresh venv of the model's Python and installs the model's own requirements.txt, nothing else;
one per model, once per module, the two side by side, installing offline from a wheelhouse built once
per machine (tests/serve/wheelhouse.py). The scripts run there from a folder outside the checkout,
without PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_qc.serve.bundle import inference_modules, pip_requirements
from mlflow_qc.tracking.names import MODEL_CODE_ARCHIVE, MODEL_PIPELINE_FILE, PREDICTIONS_ARTIFACT
from tests.helpers import REPO_ROOT
from tests.serve.serving_helpers import (
    SONAR_MODEL,
    TORCH_MODEL,
    Project,
    invoke,
    scoring_server,
    served_frame,
    split_payload,
)
from tests.serve.wheelhouse import build_dependencies, offline_pip, wheelhouse

pytestmark = pytest.mark.e2e

SONAR_URI = f"models:/{SONAR_MODEL}@champion"
TORCH_URI = f"models:/{TORCH_MODEL}@champion"
ENVIRONMENT_SECONDS = 1800
LOAD_AND_PREDICT = """
import importlib.metadata, json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
model.predict(pd.read_parquet(sys.argv[2])).to_parquet(sys.argv[3])
import mlflow_qc
try:
    installed = importlib.metadata.version("mlflow-qc")
except importlib.metadata.PackageNotFoundError:
    installed = None
print(json.dumps({"mlflow_qc": mlflow_qc.__file__, "installed": installed, "path": sys.path}))
"""


def outside_env(project: Project, **extra: str) -> dict[str, str]:
    """This process's environment for a subprocess that must not find the checkout."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return {**env, **project.env, **extra}


class EnvironmentBuild:
    """``mlflow models prepare-env --env-manager uv`` of one model under ``root`` (MLFLOW_ENV_ROOT),
    started now."""

    def __init__(self, project: Project, model_uri: str, root: Path, wheels: Path):
        root.mkdir(parents=True)
        self.root, self.log = root, root / "prepare-env.log"
        self.env = {
            "MLFLOW_ENV_ROOT": str(root),
            "PIP_NO_COMPILE": "1",
            "PIP_NO_INPUT": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # this venv's uv
            **offline_pip(wheels),
        }
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "prepare-env",
            "-m",
            model_uri,
            "--env-manager",
            "uv",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=root, env=outside_env(project, **self.env), stdout=log, stderr=subprocess.STDOUT
            )

    def wait(self) -> tuple[dict[str, str], Path]:
        """The variables that find the environment, and its python."""
        returncode = self.process.wait(timeout=ENVIRONMENT_SECONDS)
        assert returncode == 0, self.log.read_text(errors="replace")[-6000:]
        [python] = self.root.glob("*/bin/python")
        return self.env, python

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def environment_builds(sonar_keras, iris_torch, tmp_path_factory):
    """Both models' environments, built side by side and waited for where a test needs one: each
    build is one pip process, so an otherwise idle two-core machine builds the pair in about the
    time of the larger instead of the sum."""
    if shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}") is None:
        message = "--env-manager uv needs uv (pip install -e '.[test]'; README: Serving and inference)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("envs")
    wheels = wheelhouse(sorted({*build_dependencies(), *pip_requirements("keras"), *pip_requirements("pytorch")}))
    builds = {}
    try:
        builds[SONAR_URI] = EnvironmentBuild(sonar_keras, SONAR_URI, root / "sonar", wheels)
        builds[TORCH_URI] = EnvironmentBuild(iris_torch, TORCH_URI, root / "torch", wheels)
        yield builds
    finally:
        for build in builds.values():
            build.stop()


@pytest.fixture(scope="module")
def sonar_environment(environment_builds):
    return environment_builds[SONAR_URI].wait()


@pytest.fixture(scope="module")
def torch_environment(environment_builds):
    return environment_builds[TORCH_URI].wait()


def model_folder(model_uri: str, dest: Path) -> Path:
    """The registered model's folder (this process's MLflow pointed at its project with ``inside``)."""
    return Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(dest)))


def training_predictions(
    project: Project, model_uri: str, table: Path, target: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw test rows of the registered model's run and what training logged for them (decoded)."""
    client = mlflow.MlflowClient(project.tracking_uri, registry_uri=project.tracking_uri)
    run_id = client.get_model_version_by_alias(*model_uri.removeprefix("models:/").split("@")).run_id
    logged = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=PREDICTIONS_ARTIFACT, tracking_uri=project.tracking_uri
        )
    )
    test = logged[logged["split"] == "test"].reset_index(drop=True)
    raw = pd.read_csv(table, sep="\t" if table.suffix == ".tsv" else ",")
    return raw.iloc[test["row"]].drop(columns=[target]).reset_index(drop=True), test


def predict_in(
    python: Path, project: Project, model_uri: str, rows: pd.DataFrame, where: Path
) -> tuple[pd.DataFrame, dict]:
    """Load ``model_uri`` with ``mlflow.pyfunc.load_model`` in another Python, from a folder outside the checkout."""
    where.mkdir()
    rows.to_parquet(where / "rows.parquet")
    result = subprocess.run(
        [str(python), "-c", LOAD_AND_PREDICT, model_uri, "rows.parquet", "answers.parquet"],
        cwd=where,
        env=outside_env(project),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return pd.read_parquet(where / "answers.parquet"), json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_as_training(answers: pd.DataFrame, logged: pd.DataFrame) -> None:
    assert answers["prediction"].tolist() == logged["prediction"].tolist()
    probabilities = [column for column in logged.columns if column.startswith("probability_")]
    assert probabilities and list(answers.filter(like="probability_").columns) == probabilities
    np.testing.assert_allclose(answers[probabilities].to_numpy(), logged[probabilities].to_numpy(), rtol=0, atol=1e-6)


def assert_ran_on_the_model_code(origin: dict) -> None:
    assert origin["installed"] is None  # no mlflow-qc distribution in that environment
    assert f"/code/{MODEL_CODE_ARCHIVE}/mlflow_qc/" in origin["mlflow_qc"], origin["mlflow_qc"]
    assert not [entry for entry in origin["path"] if entry.startswith(str(REPO_ROOT))]


def test_a_model_carries_its_loader_and_inference_modules_and_pins_only_public_packages(sonar_keras, inside, tmp_path):
    inside(sonar_keras)
    folder = model_folder(SONAR_URI, tmp_path)
    flavor = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert (flavor["loader_module"], flavor["code"]) == ("qc_loader", "code")
    assert sorted(path.name for path in (folder / "code").iterdir()) == [MODEL_CODE_ARCHIVE, "qc_loader.py"]
    zipped = zipfile.ZipFile(folder / "code" / MODEL_CODE_ARCHIVE).namelist()
    modules = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in zipped}
    assert modules == set(inference_modules())
    assert {"mlflow_qc.run", "mlflow_qc.cache", "mlflow_qc.experiment", "mlflow_qc.data.versioning"}.isdisjoint(modules)

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            pickled.add(module)
            return super().find_class(module, name)

    pickled = set()
    with open(folder / "data" / "qc" / MODEL_PIPELINE_FILE, "rb") as handle:
        Recorder(handle).load()
    assert {module for module in pickled if module.startswith("mlflow_qc.")} <= modules

    requirements = (folder / "requirements.txt").read_text().split()
    assert requirements == list(pip_requirements("keras"))
    assert "tensorflow-cpu" in {pin.split("==")[0] for pin in requirements}
    assert not [pin for pin in requirements if "mlflow-qc" in pin or "mlflow_qc" in pin or "+" in pin]
    environment = (folder / "conda.yaml").read_text() + (folder / "python_env.yaml").read_text()
    assert "mlflow-qc" not in environment and "mlflow_qc" not in environment


def test_where_mlflow_qc_is_installed_the_model_runs_on_it(sonar_keras, tmp_path):
    probe = "import mlflow, sys; mlflow.pyfunc.load_model(sys.argv[1]); import mlflow_qc; print(mlflow_qc.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe, SONAR_URI],
        cwd=tmp_path,
        env=outside_env(sonar_keras),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip().splitlines()[-1]).resolve() == (REPO_ROOT / "mlflow_qc" / "__init__.py").resolve()


def test_registered_keras_model_predicts_in_a_fresh_venv_as_in_training(
    sonar_keras, sonar_environment, inside, tmp_path
):
    _, python = sonar_environment
    inside(sonar_keras)
    rows, logged = training_predictions(sonar_keras, SONAR_URI, sonar_keras.root / "data" / "sonar.csv", "object")
    answers, origin = predict_in(python, sonar_keras, SONAR_URI, rows, tmp_path / "outside")
    assert_ran_on_the_model_code(origin)
    assert_same_as_training(answers, logged)
    here = mlflow.pyfunc.load_model(SONAR_URI).predict(rows)  # the training environment
    pd.testing.assert_frame_equal(answers, here, check_exact=False, rtol=1e-6)


def test_registered_pytorch_model_predicts_in_a_fresh_venv_as_in_training(iris_torch, torch_environment, tmp_path):
    _, python = torch_environment
    rows, logged = training_predictions(iris_torch, TORCH_URI, iris_torch.root / "data" / "iris.tsv", "species")
    answers, origin = predict_in(python, iris_torch, TORCH_URI, rows, tmp_path / "outside")
    assert_ran_on_the_model_code(origin)
    assert_same_as_training(answers, logged)
    [installed_torch] = (python.parents[1] / "lib").glob("python*/site-packages/torch-*.dist-info")
    assert installed_torch.name.startswith("torch-2.13.0")  # the pin torch==2.13.0, as the README asks


def test_served_from_its_own_venv_it_answers_as_served_locally(sonar_keras, sonar_environment):
    env, _ = sonar_environment
    rows, logged = training_predictions(sonar_keras, SONAR_URI, sonar_keras.root / "data" / "sonar.csv", "object")
    with (
        scoring_server(sonar_keras, SONAR_URI, "uv", env) as isolated,
        scoring_server(sonar_keras, SONAR_URI) as local,
    ):
        answers = {
            name: served_frame(invoke(url, split_payload(rows)))
            for name, url in (("own venv", isolated), ("local", local))
        }
        refused = invoke(isolated, split_payload(rows.drop(columns=[rows.columns[0]])))
    pd.testing.assert_frame_equal(answers["own venv"], answers["local"], check_exact=True)
    assert_same_as_training(answers["own venv"], logged)
    assert refused.status_code == 400 and rows.columns[0] in refused.text


def test_generated_dockerfile_installs_only_public_packages(sonar_keras, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "generate-dockerfile",
            "-m",
            SONAR_URI,
            "-d",
            str(tmp_path / "docker"),
        ],
        cwd=tmp_path,
        env=outside_env(sonar_keras),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    context = tmp_path / "docker"
    dockerfile = (context / "Dockerfile").read_text()
    pip_installs = [line.split()[3:] for line in dockerfile.splitlines() if line.startswith("RUN pip install")]
    assert pip_installs == [[f"mlflow=={mlflow.__version__}"]]
    # the model's own requirements: the image installs the copied model folder's requirements.txt
    assert "_install_pyfunc_deps('/opt/ml/model'" in dockerfile and "COPY model_dir /opt/ml/model" in dockerfile
    requirements = (context / "model_dir" / "requirements.txt").read_text().split()
    assert requirements == list(pip_requirements("keras"))  # what the fresh-venv tests install from public indexes
    for text in (dockerfile, *requirements):
        assert "mlflow-qc" not in text and "mlflow_qc" not in text
    assert sorted(path.name for path in (context / "model_dir" / "code").iterdir()) == [
        MODEL_CODE_ARCHIVE,
        "qc_loader.py",
    ]
