"""Trained projects and real ``mlflow models serve`` processes for the serving tests."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests
import yaml

from tests.helpers import background_server, demo_project, free_port, run_cli

READY_SECONDS = 180
IRIS_MODEL = "iris-classifier"
EXOPLANETS_MODEL = "exoplanets-regression"  # the recipe's name: it has no register block
TORCH_MODEL = "iris-multi"  # recipes/iris_pytorch.yaml's name: it has no register block
SONAR_MODEL = "sonar-classifier"  # recipes/demo.yaml's register block


@dataclass
class Project:
    root: Path
    run_id: str = ""  # the experiment run
    training_stderr: str = ""

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}

    def cli(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=self.root, env=self.env, check=check)


def new_project(root: Path) -> Path:
    demo_project(root)
    (root / "recipes").mkdir(exist_ok=True)
    return root


def write_recipe(root: Path, name: str, recipe: dict) -> Path:
    path = root / "recipes" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def train(root: Path, recipe: Path, overrides: str = "") -> Project:
    """``mlflow-qc train`` in a real process; the project with its experiment run."""
    project = Project(root)
    result = project.cli("train", recipe, "--overrides", overrides)
    project.run_id = result.stdout.split("experiment run ", 1)[1].split(":", 1)[0]
    project.training_stderr = result.stderr
    return project


@contextmanager
def scoring_server(project: Project, model_uri: str, env_manager: str = "local", env: dict | None = None):
    """``mlflow models serve -m MODEL_URI --env-manager ENV_MANAGER`` on a free loopback port; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        **project.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **(env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        env_manager,
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
    ]
    url = f"http://127.0.0.1:{port}"
    with background_server(
        command, f"{url}/ping", project.root / f"serve-{port}.log", project.root, env, READY_SECONDS
    ):
        yield url


def invoke(url: str, body, content_type: str = "application/json") -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else None
    return requests.post(
        f"{url}/invocations",
        data=data,
        json=None if data is not None else body,
        headers={"Content-Type": content_type},
        timeout=60,
    )


def split_payload(frame: pd.DataFrame) -> dict:
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def served_frame(response: requests.Response) -> pd.DataFrame:
    assert response.status_code == 200, response.text[:2000]
    return pd.DataFrame(response.json()["predictions"])
