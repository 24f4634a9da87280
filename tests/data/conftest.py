"""Real git + DVC repositories with a local remote, and a real sqlite MLflow store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_qc.scaffold import init_dvc_repo

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def sh(cwd: Path, *command: str) -> str:
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def dvc(cwd: Path, *args: str) -> str:
    return sh(cwd, sys.executable, "-m", "dvc", *args)


@pytest.fixture(scope="session")
def _repo_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("template") / "repo"
    root.mkdir()
    sh(root, "git", "init", "-q")
    sh(root, "git", "config", "user.name", "qc-tests")
    sh(root, "git", "config", "user.email", "qc-tests@example.invalid")
    init_dvc_repo(root, remote="../remote")
    (root / "data").mkdir()
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "init")
    return root


@pytest.fixture
def dvc_repo(tmp_path, _repo_template) -> Path:
    """A fresh git + DVC repo at tmp_path/repo whose default remote is tmp_path/remote."""
    root = tmp_path / "repo"
    shutil.copytree(_repo_template, root, symlinks=True)
    return root


@pytest.fixture(scope="session")
def _tracking_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture
def tracking(_tracking_db, tmp_path, monkeypatch):
    """A client on a real sqlite store (shared by the session) and a fresh experiment id."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{_tracking_db / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(tmp_path.name, artifact_location=str(tmp_path / "artifacts"))
    yield client, experiment_id
    mlflow.set_tracking_uri(None)


def md5_of(path: Path) -> str:
    import hashlib

    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
